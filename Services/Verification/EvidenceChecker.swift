import Contracts
import Database
import Eventing
import Foundation
import Logging

/// The automatic checks run on every received submission, inside the inbox transaction, and the automatic
/// decision that follows from them (``DecisionPolicy``).
///
/// A batch is applied set-based, with a fixed number of statements whatever its size, under an advisory lock held
/// until commit (one batch at a time across consumers): skip submissions already decided, read the context (roster,
/// programs, bans, cap counts, earlier photo owners) in one pipeline, look up near duplicates, then write the
/// submissions with their outcome, decisions, the audit trail, review items and the outbox events. Within a batch,
/// submissions count in delivery order: an earlier one in the batch owns a photo and counts toward caps.
///
/// The checks (each recorded with its evidence in the audit trail, also when it passes):
/// - `DUPLICATE_EVIDENCE`: a photo's SHA-256 was used before by any submission.
/// - `NEAR_DUPLICATE_EVIDENCE`: a photo's perceptual hash is within the program's distance of an earlier photo.
/// - `CAPTURE_OUTSIDE_WINDOW`: a photo's EXIF capture time is outside the window around the claimed activity time,
///   or after the submission (a 5-minute allowance for clocks).
/// - `NO_CAPTURE_METADATA`: a photo has no EXIF capture time, or no photo GPS where a registered location should be
///   checked: client-sent data alone never approves.
/// - `OUTSIDE_GEOFENCE`: a photo's GPS (or the device GPS, which can only count against) is farther than the radius
///   from the registered location of the claimed place.
/// - `DAILY_CAP`: the day's (Asia/Jakarta) or the ISO week's count of approved and waiting submissions of the
///   activity has reached the program's cap.
/// - `FUTURE_DATE`, `IMPLAUSIBLE_QUANTITY`, `EARNING_BANNED`.
struct EvidenceChecker: Sendable {
    /// CloudEvents source of the decisions.
    let source: String
    let logger: Logger
    /// The near-duplicate index in memory (one per checker, i.e. per process and database).
    let index = PerceptualIndex()

    /// Allowance for the camera's and intake's clocks when comparing capture, activity and submission times.
    static let clockAllowance: TimeInterval = 5 * 60

    /// Decides each new `submission.received` in the batch, in delivery order.
    func handle(_ events: [InboundEvent], in connection: DatabaseConnection) async throws {
        let received = events.filter { $0.event.type == SubmissionReceived.eventType }
        // Decoded in two halves at once (≈ 30 µs each, and the batch holds nothing yet but its transaction).
        let half = received.count / 2
        async let firstHalf = received[..<half].map { try $0.event.decode(SubmissionReceived.self) }
        let secondHalf = try received[half...].map { try $0.event.decode(SubmissionReceived.self) }
        let submissions = try await firstHalf + secondHalf
        try await decide(submissions, in: connection)
    }

    /// Decides one submission (tests and tools).
    func decide(_ submission: SubmissionReceived, in connection: DatabaseConnection) async throws {
        try await decide([submission], in: connection)
    }

    /// Context of one batch read from the local copies.
    private struct Context {
        var roster: [String: (opd: String, active: Bool, locations: [RegisteredLocation])] = [:]
        var programs: [String: ProgramPublished] = [:]
        var bans: [String: Date] = [:]
        /// (nip, activity, day) → approved and waiting submissions before this batch.
        var dayCounts: [String: Int] = [:]
        var weekCounts: [String: Int] = [:]
        /// sha256 → (owner submission, nip) for photos seen before this batch.
        var owners: [String: (UUID, String)] = [:]
    }

    /// Records the submissions, checks them and enqueues one decision each, in batch order.
    func decide(_ batch: [SubmissionReceived], in connection: DatabaseConnection) async throws {
        guard !batch.isEmpty else { return }
        // The lock is held until commit: every consumer (also replicas of this service) decides one batch at a
        // time, so the counts and photo owners read below cannot change before this batch's rows are written, and
        // the near-duplicate index sees hashes committed in id order (``PerceptualIndex``).
        // Every read here is a keyed lookup: without sequential scans the plans stay index probes also when the
        // statistics are stale (a busy first hour: they said `submissions` was empty, and each batch scanned it).
        // A submission is decided once, even if intake were to publish it again under a new event id (or a batch
        // holds it twice). Its row is written with the decision, below.
        let started = try await connection.pipeline([
            "SELECT pg_advisory_xact_lock(hashtext(\(PerceptualIndex.lockName)))",
            "SELECT set_config('enable_seqscan', 'off', true)",
            "SELECT id FROM submissions WHERE id = ANY(\(batch.map(\.submissionId))::uuid[])",
        ])
        var seen = Set<UUID>()
        for row in started[2] { seen.insert(try row.decode("id", as: UUID.self)) }
        var submissions: [SubmissionReceived] = []
        var submissionDays: [String] = []
        var submissionWeeks: [String] = []
        for submission in batch {
            guard seen.insert(submission.submissionId).inserted else {
                logger.info("Pengajuan sudah pernah diperiksa", metadata: ["submission": "\(submission.submissionId)"])
                continue
            }
            submissions.append(submission)
            submissionDays.append(JakartaCalendar.day(submission.activityAt))
            submissionWeeks.append(JakartaCalendar.weekStart(submission.activityAt))
        }
        guard !submissions.isEmpty else { return }

        let context = try await readContext(submissions, days: submissionDays, weeks: submissionWeeks, in: connection)

        // Near duplicates among earlier photos (one lookup for the batch, at the largest distance any program
        // asks for; each submission then applies its own program's distance).
        var policies: [EffectivePolicy] = []
        for submission in submissions {
            policies.append(EffectivePolicy(context.programs[submission.program]?.verification))
        }
        var queryHashes: [Int64] = []
        var queryOwner: [(submission: Int, sha: String)] = []
        for (index, submission) in submissions.enumerated() {
            for photo in submission.evidence {
                guard let hash = NearDuplicateIndex.parse(photo.perceptualHash) else { continue }
                queryHashes.append(hash)
                queryOwner.append((index, photo.sha256.lowercased()))
            }
        }
        let lookupDistance =
            policies.map(\.nearDuplicateDistance).max() ?? EffectivePolicy.defaults.nearDuplicateDistance
        var stored: [NearDuplicateIndex.Match] = []
        if !queryHashes.isEmpty {
            try await index.catchUp(in: connection)
            let found = index.lookup(queryHashes, maxDistance: lookupDistance)
            if !found.isEmpty {
                let rows = try await connection.query(
                    """
                    SELECT id, sha256, submission_id, nip FROM perceptual_hashes
                    WHERE id = ANY(\(Array(Set(found.map(\.id))))::bigint[])
                    """)
                var details: [Int64: (String, UUID, String)] = [:]
                for row in rows {
                    details[try row.decode("id")] = (
                        try row.decode("sha256"), try row.decode("submission_id"), try row.decode("nip")
                    )
                }
                for match in found.sorted(by: { ($0.query, $0.distance, $0.id) < ($1.query, $1.distance, $1.id) }) {
                    guard let detail = details[match.id] else { continue }
                    stored.append(
                        NearDuplicateIndex.Match(
                            query: match.query, sha256: detail.0, submissionId: detail.1, nip: detail.2,
                            distance: match.distance))
                }
            }
        }

        // Decide each submission in batch order.
        let now = Date()
        var batchOwners: [String: (UUID, String)] = [:]
        var batchHashes: [(hash: Int64, sha: String, submission: UUID, nip: String)] = []
        var dayCounts = context.dayCounts
        var weekCounts = context.weekCounts
        var outcomes: [Outcome] = []
        var newFingerprints: [(sha: String, owner: UUID, nip: String)] = []
        var newHashes: [(sha256: String, submissionId: UUID, nip: String, hash: Int64)] = []
        var matchesByQuery: [Int: [NearDuplicateIndex.Match]] = [:]
        for match in stored { matchesByQuery[match.query, default: []].append(match) }
        var queryCursor = 0

        for (index, submission) in submissions.enumerated() {
            let policy = policies[index]
            let program = context.programs[submission.program]
            let activity = program?.activity(submission.activity)
            var results: [CheckResult] = []

            // EARNING_BANNED
            if let until = context.bans[submission.nip], submission.submittedAt < until {
                results.append(
                    .flag(
                        ReasonCode.earningBanned.rawValue,
                        ["bannedUntil": .date(until), "submittedAt": .date(submission.submittedAt)]))
            } else {
                results.append(.pass(ReasonCode.earningBanned.rawValue))
            }

            // DUPLICATE_EVIDENCE
            var duplicates: [Fact] = []
            for sha in Set(submission.evidence.map { $0.sha256.lowercased() }).sorted() {
                if let owner = context.owners[sha] ?? batchOwners[sha] {
                    duplicates.append(
                        .object([
                            "sha256": .string(sha), "submissionId": .string(owner.0.lowercased),
                            "nip": .string(owner.1),
                        ]))
                } else {
                    batchOwners[sha] = (submission.submissionId, submission.nip)
                    newFingerprints.append((sha, submission.submissionId, submission.nip))
                }
            }
            results.append(
                duplicates.isEmpty
                    ? .pass(
                        ReasonCode.duplicateEvidence.rawValue, ["photos": .number(Double(submission.evidence.count))])
                    : .flag(ReasonCode.duplicateEvidence.rawValue, ["matches": .array(duplicates)]))

            // NEAR_DUPLICATE_EVIDENCE
            var near: [Fact] = []
            var hashed = 0
            let ownShas = Set(submission.evidence.map { $0.sha256.lowercased() })
            for photo in submission.evidence {
                guard let hash = NearDuplicateIndex.parse(photo.perceptualHash) else { continue }
                hashed += 1
                let sha = photo.sha256.lowercased()
                let query = queryCursor
                queryCursor += 1
                var found: [(sha: String, submission: UUID, nip: String, distance: Int)] = []
                for match in matchesByQuery[query] ?? []
                where match.distance <= policy.nearDuplicateDistance && !ownShas.contains(match.sha256) {
                    found.append((match.sha256, match.submissionId, match.nip, match.distance))
                }
                for earlier in batchHashes where earlier.submission != submission.submissionId {
                    let distance = NearDuplicateIndex.distance(hash, earlier.hash)
                    if distance <= policy.nearDuplicateDistance, !ownShas.contains(earlier.sha) {
                        found.append((earlier.sha, earlier.submission, earlier.nip, distance))
                    }
                }
                for match in found.sorted(by: { $0.distance < $1.distance }).prefix(5) {
                    near.append(
                        .object([
                            "photo": .string(sha), "perceptualHash": .optional(photo.perceptualHash),
                            "matchSha256": .string(match.sha),
                            "matchSubmissionId": .string(match.submission.lowercased),
                            "matchNip": .string(match.nip), "distance": .number(Double(match.distance)),
                            "maxDistance": .number(Double(policy.nearDuplicateDistance)),
                        ]))
                }
                batchHashes.append((hash, sha, submission.submissionId, submission.nip))
                newHashes.append((sha, submission.submissionId, submission.nip, hash))
            }
            if !near.isEmpty {
                results.append(.flag(ReasonCode.nearDuplicateEvidence.rawValue, ["matches": .array(near)]))
            } else if hashed == 0 {
                results.append(.skipped(ReasonCode.nearDuplicateEvidence.rawValue, "tidak ada hash perseptual"))
            } else {
                results.append(
                    .pass(
                        ReasonCode.nearDuplicateEvidence.rawValue,
                        ["maxDistance": .number(Double(policy.nearDuplicateDistance))]))
            }

            // FUTURE_DATE
            if submission.activityAt > submission.submittedAt.addingTimeInterval(Self.clockAllowance) {
                results.append(
                    .flag(
                        ReasonCode.futureDate.rawValue,
                        ["activityAt": .date(submission.activityAt), "submittedAt": .date(submission.submittedAt)]))
            } else {
                results.append(.pass(ReasonCode.futureDate.rawValue))
            }

            // IMPLAUSIBLE_QUANTITY
            results.append(Self.quantityCheck(submission, activity: activity))

            // DAILY_CAP (daily and weekly), counting approved and waiting submissions, not rejected ones.
            let dayKey = "\(submission.nip)|\(submission.activity)|\(submissionDays[index])"
            let weekKey = "\(submission.nip)|\(submission.activity)|\(submissionWeeks[index])"
            let dayCount = dayCounts[dayKey, default: 0]
            let weekCount = weekCounts[weekKey, default: 0]
            let capEvidence: [String: Fact] = [
                "day": .string(submissionDays[index]), "countToday": .number(Double(dayCount)),
                "dailyCap": activity?.dailyCap.map { .number(Double($0)) } ?? .null,
                "weekStart": .string(submissionWeeks[index]), "countThisWeek": .number(Double(weekCount)),
                "weeklyCap": activity?.weeklyCap.map { .number(Double($0)) } ?? .null,
            ]
            let overDaily = activity?.dailyCap.map { dayCount >= $0 } ?? false
            let overWeekly = activity?.weeklyCap.map { weekCount >= $0 } ?? false
            if overDaily || overWeekly {
                results.append(.flag(ReasonCode.dailyCap.rawValue, capEvidence))
            } else if activity == nil {
                results.append(.skipped(ReasonCode.dailyCap.rawValue, "program atau kegiatan belum dikenal"))
            } else {
                results.append(.pass(ReasonCode.dailyCap.rawValue, capEvidence))
            }

            // CAPTURE_OUTSIDE_WINDOW and NO_CAPTURE_METADATA, OUTSIDE_GEOFENCE
            let asn = context.roster[submission.nip]
            let registered = asn?.locations.first { $0.place == submission.place }
            results += Self.captureChecks(submission, registered: registered, policy: policy)

            // The decision.
            let flagged = results.filter { $0.result == "flag" }.compactMap { ReasonCode(rawValue: $0.code) }
            let points = DecisionPolicy.points(
                activity: activity, quantity: submission.quantity, place: submission.place,
                placeFactors: program?.placeFactors)
            var outcome = Outcome(submission: submission, results: results, points: points)
            if let main = DecisionPolicy.rejecting.first(where: flagged.contains) {
                outcome.kind = .rejected
                outcome.main = main
                outcome.codes = [main] + flagged.filter { $0 != main }
                outcome.fraud = flagged.contains { DecisionPolicy.action($0) == .reject && DecisionPolicy.isFraud($0) }
                outcome.appealable = DecisionPolicy.isAppealable(main)
            } else if !flagged.isEmpty {
                outcome.kind = .review
                outcome.codes = flagged
                outcome.requiredApprovals = points >= policy.fourEyesMinPoints ? 2 : 1
            } else if points >= policy.fourEyesMinPoints {
                // Worth enough that two verifiers must approve it (four eyes); no automatic approval.
                outcome.kind = .review
                outcome.requiredApprovals = 2
            } else {
                outcome.kind = .approved
                outcome.sampled = DecisionPolicy.isSampled(submission.submissionId, rate: policy.auditSampleRate)
            }
            if outcome.kind != .rejected {
                dayCounts[dayKey, default: 0] += 1
                weekCounts[weekKey, default: 0] += 1
            }
            outcomes.append(outcome)
        }

        try await record(
            outcomes, days: submissionDays, weeks: submissionWeeks, fingerprints: newFingerprints, hashes: newHashes,
            now: now, in: connection)
    }

    // MARK: - Context

    private func readContext(
        _ submissions: [SubmissionReceived], days: [String], weeks: [String], in connection: DatabaseConnection
    ) async throws -> Context {
        let nips = Array(Set(submissions.map(\.nip))).sorted()
        let programs = Array(Set(submissions.map(\.program))).sorted()
        let shas = Array(Set(submissions.flatMap { $0.evidence.map { $0.sha256.lowercased() } })).sorted()
        var keys: Set<String> = []
        var capNips: [String] = []
        var capActivities: [String] = []
        var capDays: [String] = []
        var capWeeks: [String] = []
        for (index, submission) in submissions.enumerated()
        where keys.insert("\(submission.nip)|\(submission.activity)|\(days[index])").inserted {
            capNips.append(submission.nip)
            capActivities.append(submission.activity)
            capDays.append(days[index])
            capWeeks.append(weeks[index])
        }
        let results = try await connection.pipeline([
            "SELECT nip, opd, active, locations::text AS locations FROM roster WHERE nip = ANY(\(nips)::text[])",
            "SELECT program, document::text AS document FROM programs WHERE program = ANY(\(programs)::text[])",
            "SELECT nip, banned_until FROM earning_bans WHERE nip = ANY(\(nips)::text[])",
            """
            SELECT k.nip, k.activity, k.day, k.week,
                   (SELECT count(*) FROM submissions s
                    WHERE s.nip = k.nip AND s.activity = k.activity AND s.activity_day = k.day::date
                      AND s.status IN ('approved', 'review')) AS day_count,
                   (SELECT count(*) FROM submissions s
                    WHERE s.nip = k.nip AND s.activity = k.activity AND s.activity_week = k.week::date
                      AND s.status IN ('approved', 'review')) AS week_count
            FROM unnest(\(capNips)::text[], \(capActivities)::text[], \(capDays)::text[], \(capWeeks)::text[])
                 AS k(nip, activity, day, week)
            """,
            """
            SELECT sha256, submission_id, nip FROM evidence_fingerprints WHERE sha256 = ANY(\(shas)::text[])
            """,
        ])
        var context = Context()
        for row in results[0] {
            let locations = try ContractsJSON.decode(
                [RegisteredLocation].self, from: Data(try row.decode("locations", as: String.self).utf8))
            context.roster[try row.decode("nip")] = (try row.decode("opd"), try row.decode("active"), locations)
        }
        for row in results[1] {
            do {
                let program = try ContractsJSON.decode(
                    ProgramPublished.self, from: Data(try row.decode("document", as: String.self).utf8))
                context.programs[program.program] = program
            } catch {
                logger.error("stored program is unreadable", metadata: ["error": "\(error)"])
            }
        }
        for row in results[2] {
            context.bans[try row.decode("nip")] = try row.decode("banned_until", as: Date.self)
        }
        for row in results[3] {
            let nip: String = try row.decode("nip")
            let activity: String = try row.decode("activity")
            let day: String = try row.decode("day")
            let week: String = try row.decode("week")
            context.dayCounts["\(nip)|\(activity)|\(day)"] = try row.decode("day_count", as: Int.self)
            // The week count is per (nip, activity, week); several days of one week give the same value.
            context.weekCounts["\(nip)|\(activity)|\(week)"] = try row.decode("week_count", as: Int.self)
        }
        for row in results[4] {
            context.owners[try row.decode("sha256")] = (try row.decode("submission_id"), try row.decode("nip"))
        }
        return context
    }

    // MARK: - Individual checks

    static func quantityCheck(_ submission: SubmissionReceived, activity: ActivityDefinition?) -> CheckResult {
        let code = ReasonCode.implausibleQuantity.rawValue
        let quantity = submission.quantity
        var evidence: [String: Fact] = [
            "quantity": .number(quantity.isFinite ? quantity : -1),
            "minQuantity": .optional(activity?.minQuantity), "maxQuantity": .optional(activity?.maxQuantity),
            "unit": .optional(activity?.unit ?? submission.unit),
        ]
        var problems: [String] = []
        if !quantity.isFinite || quantity <= 0 { problems.append("jumlah harus lebih dari nol") }
        if let min = activity?.minQuantity, quantity < min { problems.append("di bawah jumlah minimum") }
        if let max = activity?.maxQuantity, quantity > max { problems.append("di atas jumlah maksimum") }
        if (activity?.unit ?? submission.unit) == "count", quantity.isFinite, quantity.rounded() != quantity {
            problems.append("jumlah satuan harus bilangan bulat")
        }
        guard !problems.isEmpty else { return .pass(code, evidence) }
        evidence["problems"] = .array(problems.map { .string($0) })
        return .flag(code, evidence)
    }

    /// `CAPTURE_OUTSIDE_WINDOW`, `OUTSIDE_GEOFENCE` and `NO_CAPTURE_METADATA` (missing capture time, or missing
    /// photo GPS where a registered location is to be checked), in that order.
    static func captureChecks(
        _ submission: SubmissionReceived, registered: RegisteredLocation?, policy: EffectivePolicy
    ) -> [CheckResult] {
        var outside: [Fact] = []
        var missing: [Fact] = []
        var compared: [Fact] = []
        let earliest = submission.activityAt.addingTimeInterval(-policy.captureWindow)
        let latest = min(
            submission.activityAt.addingTimeInterval(policy.captureWindow),
            submission.submittedAt.addingTimeInterval(clockAllowance))
        for photo in submission.evidence {
            guard let capturedAt = photo.capture?.capturedAt else {
                missing.append(
                    .object(["photo": .string(photo.sha256.lowercased()), "missing": .string("capturedAt")]))
                continue
            }
            let fact: Fact = .object([
                "photo": .string(photo.sha256.lowercased()), "capturedAt": .date(capturedAt),
                "capturedAtOffset": .optional(photo.capture?.capturedAtOffset),
                "activityAt": .date(submission.activityAt), "submittedAt": .date(submission.submittedAt),
                "windowHours": .number(policy.captureWindow / 3600),
                "hoursFromActivity": .number(
                    ((capturedAt.timeIntervalSince(submission.activityAt)) / 36).rounded() / 100),
                "afterSubmission": .bool(capturedAt > submission.submittedAt.addingTimeInterval(clockAllowance)),
            ])
            if capturedAt < earliest || capturedAt > latest { outside.append(fact) } else { compared.append(fact) }
        }
        var results: [CheckResult] = []
        let windowCode = ReasonCode.captureOutsideWindow.rawValue
        if !outside.isEmpty {
            results.append(.flag(windowCode, ["photos": .array(outside + compared)]))
        } else if compared.isEmpty {
            results.append(.skipped(windowCode, "tidak ada waktu pengambilan foto"))
        } else {
            results.append(.pass(windowCode, ["photos": .array(compared)]))
        }
        let (geofence, withoutGPS, device) = locationCheck(submission, registered: registered, policy: policy)
        results.append(geofence)
        let metadataCode = ReasonCode.noCaptureMetadata.rawValue
        if missing.isEmpty && withoutGPS.isEmpty {
            results.append(.pass(metadataCode))
        } else {
            // Without the photo's own time or position the claim rests on client data, which never approves.
            results.append(
                .flag(metadataCode, ["photos": .array(missing + withoutGPS), "device": device]))
        }
        return results
    }

    /// `OUTSIDE_GEOFENCE`, with the photos that have no GPS and the device position (as evidence).
    static func locationCheck(
        _ submission: SubmissionReceived, registered: RegisteredLocation?, policy: EffectivePolicy
    ) -> (CheckResult, [Fact], Fact) {
        let code = ReasonCode.outsideGeofence.rawValue
        guard let registered else {
            return (.skipped(code, "lokasi \(submission.place) belum terdaftar untuk ASN ini"), [], .null)
        }
        let radius = registered.radiusMeters ?? policy.geofenceMeters
        let centre = registered.point
        var far: [Fact] = []
        var near: [Fact] = []
        var withoutGPS: [Fact] = []
        for photo in submission.evidence {
            guard let point = photo.capture?.location, point.isValid else {
                withoutGPS.append(.object(["photo": .string(photo.sha256.lowercased()), "missing": .string("gps")]))
                continue
            }
            let distance = point.distance(to: centre)
            let fact: Fact = .object([
                "source": .string("photo"), "photo": .string(photo.sha256.lowercased()),
                "latitude": .number(point.latitude), "longitude": .number(point.longitude),
                "distanceMeters": .number(distance.rounded()),
            ])
            if distance > radius { far.append(fact) } else { near.append(fact) }
        }
        var device: Fact = .null
        if let location = submission.deviceLocation, location.isValid {
            let distance = location.distance(to: centre)
            device = .object([
                "source": .string("device"), "latitude": .number(location.latitude),
                "longitude": .number(location.longitude), "accuracy": .optional(location.accuracy),
                "distanceMeters": .number(distance.rounded()),
            ])
            // Client-sent: it can count against (farther than the radius plus its stated accuracy), never for.
            if distance > radius + max(location.accuracy ?? 0, 0) { far.append(device) }
        }
        let evidence: [String: Fact] = [
            "place": .string(submission.place),
            "registered": .object([
                "latitude": .number(registered.latitude), "longitude": .number(registered.longitude),
                "label": .optional(registered.label),
            ]),
            "radiusMeters": .number(radius), "positions": .array(far + near), "device": device,
        ]
        return (far.isEmpty ? .pass(code, evidence) : .flag(code, evidence), withoutGPS, device)
    }

    // MARK: - Recording

    /// The automatic decision of one submission.
    struct Outcome {
        enum Kind: String { case approved, rejected, review }
        var submission: SubmissionReceived
        var results: [CheckResult]
        var points: Double
        var kind: Kind = .approved
        var main: ReasonCode?
        var codes: [ReasonCode] = []
        var fraud = false
        var appealable = false
        var sampled = false
        var requiredApprovals = 1
    }

    /// Writes the batch's submissions with their outcome (`days`/`weeks`: their Jakarta activity day and week,
    /// in `outcomes` order), decisions and photos, then the audit trail, review items and outbox events.
    ///
    /// The audit documents and events are built in a child task while the rows are written: both are CPU work of
    /// about the same size (≈ 0.1 ms per submission each), and the batch holds the lock meanwhile.
    private func record(
        _ outcomes: [Outcome], days: [String], weeks: [String], fingerprints: [(sha: String, owner: UUID, nip: String)],
        hashes: [(sha256: String, submissionId: UUID, nip: String, hash: Int64)], now: Date,
        in connection: DatabaseConnection
    ) async throws {
        async let documents = Self.documents(outcomes, now: now, source: source, logger: logger)
        let submissions = outcomes.map(\.submission)
        let ids = submissions.map(\.submissionId)
        let statuses = outcomes.map(\.kind.rawValue)
        let evidence = try submissions.map { String(decoding: try ContractsJSON.encode($0.evidence), as: UTF8.self) }
        let devices = try submissions.map { submission in
            try submission.deviceLocation.map { String(decoding: try ContractsJSON.encode($0), as: UTF8.self) } ?? ""
        }
        var rows: [SQLQuery] = [
            """
            INSERT INTO submissions (id, nip, opd, program, activity, place, activity_at, submitted_at, quantity,
                                     name, unit, note, program_version, activity_day, activity_week, evidence,
                                     device_location, status, points)
            SELECT id, nip, opd, program, activity, place, activity_at, submitted_at, quantity, NULLIF(name, ''),
                   NULLIF(unit, ''), NULLIF(note, ''), NULLIF(version, ''), day::date, week::date, evidence::jsonb,
                   NULLIF(device, '')::jsonb, status, points
            FROM unnest(\(ids)::uuid[], \(submissions.map(\.nip))::text[], \(submissions.map(\.opd))::text[],
                        \(submissions.map(\.program))::text[], \(submissions.map(\.activity))::text[],
                        \(submissions.map(\.place))::text[], \(submissions.map(\.activityAt))::timestamptz[],
                        \(submissions.map(\.submittedAt))::timestamptz[], \(submissions.map(\.quantity))::float8[],
                        \(submissions.map { $0.name ?? "" })::text[], \(submissions.map { $0.unit ?? "" })::text[],
                        \(submissions.map { $0.note ?? "" })::text[], \(submissions.map { $0.programVersion ?? "" })::text[],
                        \(days)::text[], \(weeks)::text[], \(evidence)::text[], \(devices)::text[], \(statuses)::text[],
                        \(outcomes.map(\.points))::float8[])
                 WITH ORDINALITY AS r(id, nip, opd, program, activity, place, activity_at, submitted_at, quantity,
                                      name, unit, note, version, day, week, evidence, device, status, points, position)
            ORDER BY position
            """,
            """
            INSERT INTO decisions (submission_id, outcome, reason_code, reason, decided_by, decided_at, reason_codes,
                                   method, fraud, appealable, sampled_for_audit)
            SELECT id, outcome, NULLIF(code, ''), NULLIF(reason, ''), 'auto', \(now), coalesce(string_to_array(NULLIF(codes, ''), ','), '{}'),
                   'auto', fraud, appealable, sampled
            FROM unnest(\(ids)::uuid[], \(statuses)::text[], \(outcomes.map { $0.main?.rawValue ?? "" })::text[],
                        \(outcomes.map { $0.main?.indonesianText ?? "" })::text[],
                        \(outcomes.map { $0.codes.map(\.rawValue).joined(separator: ",") })::text[],
                        \(outcomes.map(\.fraud))::bool[], \(outcomes.map(\.appealable))::bool[],
                        \(outcomes.map(\.sampled))::bool[])
                 AS d(id, outcome, code, reason, codes, fraud, appealable, sampled)
            """,
        ]
        if !fingerprints.isEmpty {
            rows.append(
                """
                INSERT INTO evidence_fingerprints (sha256, submission_id, nip)
                SELECT * FROM unnest(\(fingerprints.map(\.sha))::text[], \(fingerprints.map(\.owner))::uuid[],
                                     \(fingerprints.map(\.nip))::text[])
                ON CONFLICT (sha256) DO NOTHING
                """)
        }
        if let hashes = NearDuplicateIndex.insertStatement(hashes) { rows.append(hashes) }
        try await connection.pipeline(rows)
        try await connection.pipeline(try await documents)
    }

    /// The audit trail, review items and outbox events of the outcomes, as statements (pure: no I/O).
    private static func documents(_ outcomes: [Outcome], now: Date, source: String, logger: Logger) throws -> [SQLQuery]
    {
        var events: [CloudEvent] = []
        var reviewIds: [UUID] = []
        var reviewSubmissions: [UUID] = []
        var reviewTriggers: [String] = []
        var reviewChecks: [String] = []
        var reviewApprovals: [Int] = []
        var auditSubmissions: [UUID] = []
        var auditReviews: [String] = []
        var auditKinds: [String] = []
        var auditCodes: [String] = []
        var auditResults: [String] = []
        var auditDetails: [String] = []

        for outcome in outcomes {
            let submission = outcome.submission
            let codes = outcome.codes.map(\.rawValue)
            let checks = Fact.object(["checks": .array(outcome.results.map(\.fact))]).jsonText
            auditSubmissions.append(submission.submissionId)
            auditReviews.append("")
            auditKinds.append("checks")
            auditCodes.append(codes.first ?? "")
            auditResults.append(outcome.results.contains { $0.result == "flag" } ? "flag" : "pass")
            auditDetails.append(checks)

            switch outcome.kind {
            case .rejected:
                let main = outcome.main ?? .reviewerRejected
                events.append(
                    try CloudEvent(
                        SubmissionRejected(
                            submissionId: submission.submissionId, nip: submission.nip, opd: submission.opd,
                            reasonCode: main.rawValue, reason: main.indonesianText, decidedAt: now,
                            decidedBy: SubmissionVerified.automatic, fraud: outcome.fraud, program: submission.program,
                            activity: submission.activity, reasonCodes: codes, appealable: outcome.appealable,
                            method: "auto"),
                        source: source))
                logger.notice(
                    "Pengajuan ditolak otomatis",
                    metadata: ["submission": "\(submission.submissionId)", "reason": "\(main.rawValue)"])
            case .approved:
                events.append(
                    try CloudEvent(
                        SubmissionVerified(
                            submissionId: submission.submissionId, nip: submission.nip, opd: submission.opd,
                            program: submission.program, activity: submission.activity, place: submission.place,
                            activityAt: submission.activityAt, quantity: submission.quantity, decidedAt: now,
                            decidedBy: SubmissionVerified.automatic,
                            checks: outcome.results.filter { $0.result == "pass" }.map(\.code),
                            sampledForAudit: outcome.sampled, unit: submission.unit, name: submission.name,
                            submittedAt: submission.submittedAt, method: "auto", reasonCodes: [], fraud: false,
                            appealable: false),
                        source: source))
            case .review:
                break
            }
            if outcome.kind == .review || outcome.sampled {
                let reviewId = UUID.timeOrdered()
                let trigger: ReviewAssigned.Trigger = outcome.kind == .review ? .checks : .auditSample
                reviewIds.append(reviewId)
                reviewSubmissions.append(submission.submissionId)
                reviewTriggers.append(trigger.rawValue)
                reviewChecks.append(codes.joined(separator: ","))
                reviewApprovals.append(outcome.kind == .review ? outcome.requiredApprovals : 1)
                events.append(
                    try CloudEvent(
                        ReviewAssigned(
                            reviewId: reviewId, submissionId: submission.submissionId, nip: submission.nip,
                            opd: submission.opd, trigger: trigger.rawValue, checks: codes, assignedAt: now,
                            requiredApprovals: reviewApprovals.last),
                        source: source))
                auditSubmissions.append(submission.submissionId)
                auditReviews.append(reviewId.lowercased)
                auditKinds.append("review.enqueued")
                auditCodes.append(codes.first ?? "")
                auditResults.append(trigger.rawValue)
                auditDetails.append(
                    Fact.object([
                        "trigger": .string(trigger.rawValue), "checks": .array(codes.map { .string($0) }),
                        "requiredApprovals": .number(Double(reviewApprovals.last ?? 1)),
                        "points": .number(outcome.points),
                    ]).jsonText)
            }
            auditSubmissions.append(submission.submissionId)
            auditReviews.append("")
            auditKinds.append("decision")
            auditCodes.append(codes.first ?? "")
            auditResults.append(outcome.kind.rawValue)
            auditDetails.append(
                Fact.object([
                    "method": .string("auto"), "reasonCodes": .array(codes.map { .string($0) }),
                    "fraud": .bool(outcome.fraud), "appealable": .bool(outcome.appealable),
                    "sampledForAudit": .bool(outcome.sampled), "points": .number(outcome.points),
                ]).jsonText)
        }

        var statements: [SQLQuery] = [
            """
            INSERT INTO audit_trail (submission_id, review_id, actor, kind, code, result, details)
            SELECT s, NULLIF(r, '')::uuid, 'auto', k, NULLIF(c, ''), res, d::jsonb
            FROM unnest(\(auditSubmissions)::uuid[], \(auditReviews)::text[], \(auditKinds)::text[],
                        \(auditCodes)::text[], \(auditResults)::text[], \(auditDetails)::text[])
                 WITH ORDINALITY AS a(s, r, k, c, res, d, position)
            ORDER BY position
            """
        ]
        if !reviewIds.isEmpty {
            statements.append(
                """
                INSERT INTO reviews (id, submission_id, trigger, checks, required_approvals, created_at)
                SELECT id, s, t, coalesce(string_to_array(NULLIF(c, ''), ','), '{}'), n, \(now)
                FROM unnest(\(reviewIds)::uuid[], \(reviewSubmissions)::uuid[], \(reviewTriggers)::text[],
                            \(reviewChecks)::text[], \(reviewApprovals)::int[]) AS r(id, s, t, c, n)
                """)
        }
        if let outbox = try Outbox.enqueueStatement(events) { statements.append(outbox) }
        return statements
    }
}

/// Calendar days and ISO weeks in Asia/Jakarta (UTC+7, no daylight saving), as `YYYY-MM-DD`.
enum JakartaCalendar {
    private static let offset: TimeInterval = 7 * 3600

    /// Days since 1970-01-01 in Jakarta.
    static func dayNumber(_ date: Date) -> Int {
        Int(((date.timeIntervalSince1970 + offset) / 86_400).rounded(.down))
    }

    /// The Jakarta calendar day of `date`.
    static func day(_ date: Date) -> String { format(dayNumber(date)) }

    /// The Monday starting the ISO week of `date` in Jakarta.
    static func weekStart(_ date: Date) -> String {
        let day = dayNumber(date)
        // 1970-01-01 was a Thursday: (day + 3) mod 7 is 0 on Mondays.
        let sinceMonday = ((day + 3) % 7 + 7) % 7
        return format(day - sinceMonday)
    }

    /// `YYYY-MM-DD` of a day number (civil-from-days, proleptic Gregorian).
    static func format(_ days: Int) -> String {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        return String(format: "%04d-%02d-%02d", y, m, d)
    }
}
