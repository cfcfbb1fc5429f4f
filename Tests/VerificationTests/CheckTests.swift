import Contracts
import Database
import Eventing
import Foundation
import TestSupport
import Testing

@testable import Verification

/// The automatic checks and the automatic decision, on the real PostgreSQL, applied in batches as the inbox
/// applies them. Submissions carry the facts intake reads from JPEGs the tests build with and without EXIF.
@Suite("Verification: automatic checks")
struct CheckTests {
    @Test("a photo with EXIF time and GPS at the registered office is approved automatically, every check recorded")
    func cleanApproval() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let submission = VF.received()
            try await VF.check([submission], pool: pool)
            let decision = try #require(try await VF.decision(submission.submissionId, pool: pool))
            #expect(decision.outcome == "approved")
            let verified = try await VF.events(SubmissionVerified.self, pool: pool)
            #expect(verified.map(\.submissionId) == [submission.submissionId])
            #expect(verified.first?.method == "auto" && verified.first?.isAutomatic == true)
            #expect(verified.first?.sampledForAudit == false)
            let checks = try await VF.checks(submission.submissionId, pool: pool)
            #expect(Set(checks.keys) == Set(ReasonCode.allCases.filter { $0 != .reviewerRejected }.map(\.rawValue)))
            #expect(checks.values.allSatisfy { $0.result == "pass" }, "\(checks.values.filter { $0.result != "pass" })")
            let geofence = try #require(checks["OUTSIDE_GEOFENCE"])
            guard case .array(let positions) = geofence.evidence["positions"],
                case .object(let first) = positions.first,
                case .number(let distance) = first["distanceMeters"]
            else { Issue.record("no geofence evidence: \(geofence)"); return }
            #expect(distance < 5)
        }
    }

    @Test("DUPLICATE_EVIDENCE: a photo reused in the same batch or later, by anyone, is rejected as fraud")
    func duplicates() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let photo = VF.photo(exif: VF.exif())
            let first = VF.received(photos: [photo])
            let sameBatch = VF.received(nip: VF.budi, opd: "DISDIK", photos: [VF.photo(exif: VF.exif()), photo])
            try await VF.check([first, sameBatch], pool: pool)
            let later = VF.received(nip: VF.budi, opd: "DISDIK", photos: [photo])
            try await VF.check([later], pool: pool)

            #expect(try await VF.decision(first.submissionId, pool: pool)?.outcome == "approved")
            for rejected in [sameBatch, later] {
                let decision = try #require(try await VF.decision(rejected.submissionId, pool: pool))
                #expect(decision.outcome == "rejected")
                #expect(decision.reasonCode == "DUPLICATE_EVIDENCE" && decision.fraud && decision.appealable)
                let check = try #require(try await VF.checks(rejected.submissionId, pool: pool)["DUPLICATE_EVIDENCE"])
                #expect(check.result == "flag")
                guard case .array(let matches) = check.evidence["matches"], case .object(let match) = matches.first
                else { Issue.record("no evidence"); continue }
                #expect(match["submissionId"] == .string(first.submissionId.lowercased))
                #expect(match["sha256"] == .string(photo.ref.sha256))
            }
            let rejections = try await VF.events(SubmissionRejected.self, pool: pool)
            #expect(rejections.map(\.reasonCode) == ["DUPLICATE_EVIDENCE", "DUPLICATE_EVIDENCE"])
            #expect(rejections.allSatisfy { $0.fraud && $0.appealable == true && $0.method == "auto" })
        }
    }

    @Test("NEAR_DUPLICATE_EVIDENCE: a hash within distance 6 of one among 100,000 stored hashes goes to review")
    func nearDuplicateAmongManyHashes() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let owner = VF.received(nip: VF.budi, opd: "DISDIK")
            try await VF.check([owner], pool: pool)
            // 100,000 other photos with uniformly random 64-bit hashes.
            try await pool.withConnection { connection in
                try await connection.query(
                    """
                    INSERT INTO perceptual_hashes (sha256, submission_id, nip, hash)
                    SELECT md5(g::text) || md5((g + 1000000)::text), \(owner.submissionId), \(VF.budi), h
                    FROM generate_series(1, 100000) AS g,
                         LATERAL (SELECT ((floor(random() * 4294967296)::bigint << 32)
                                          | floor(random() * 4294967296)::bigint) + g * 0 AS h) AS r
                    """)
                try await connection.query("ANALYZE perceptual_hashes")
            }
            let stored = try #require(owner.evidence.first?.perceptualHash)
            let base = UInt64(stored, radix: 16)!
            // Six bits flipped, two of them in one band: found. Seven bits: not, at the default distance 6.
            let near = String(format: "%016llx", base ^ (1 << 1 | 1 << 5 | 1 << 20 | 1 << 37 | 1 << 50 | 1 << 63))
            let far = String(
                format: "%016llx", base ^ (1 << 2 | 1 << 9 | 1 << 21 | 1 << 33 | 1 << 44 | 1 << 55 | 1 << 61))
            let nearSubmission = VF.received(photos: [VF.photo(exif: VF.exif(), phash: near)])
            let farSubmission = VF.received(photos: [VF.photo(exif: VF.exif(), phash: far)])
            try await VF.check([nearSubmission, farSubmission], pool: pool)

            let decision = try #require(try await VF.decision(nearSubmission.submissionId, pool: pool))
            #expect(decision.outcome == "review")
            #expect(decision.reasonCodes == ["NEAR_DUPLICATE_EVIDENCE"])
            let check = try #require(
                try await VF.checks(nearSubmission.submissionId, pool: pool)["NEAR_DUPLICATE_EVIDENCE"])
            guard case .array(let matches) = check.evidence["matches"], case .object(let match) = matches.first else {
                Issue.record("no evidence: \(check)")
                return
            }
            #expect(match["matchSubmissionId"] == .string(owner.submissionId.lowercased))
            #expect(match["distance"] == .number(6))
            #expect(try await VF.decision(farSubmission.submissionId, pool: pool)?.outcome == "approved")
            let assigned = try await VF.events(ReviewAssigned.self, pool: pool)
            #expect(assigned.map(\.submissionId) == [nearSubmission.submissionId])
            #expect(assigned.first?.trigger == "checks" && assigned.first?.checks == ["NEAR_DUPLICATE_EVIDENCE"])

            // The consumer's in-memory index finds exactly what a full scan finds, up to distance 11: probes 0–11 bits
            // from stored hashes.
            let sample = try await pool.withConnection { connection in
                try await connection.query("SELECT hash FROM perceptual_hashes ORDER BY random() LIMIT 12")
                    .map { try $0.decode("hash", as: Int64.self) }
            }
            for (flips, base) in sample.enumerated() {
                var probe = base
                for bit in Array(0..<64).shuffled().prefix(flips) { probe ^= Int64(bitPattern: 1 << UInt64(bit)) }
                let scanned = try await pool.withConnection { connection in
                    try await connection.query(
                        "SELECT sha256 FROM perceptual_hashes WHERE bit_count((hash # \(probe))::bit(64)) <= 11 ORDER BY sha256"
                    ).map { try $0.decode("sha256", as: String.self) }
                }
                let memory = VF.checker(pool).index
                try await pool.withConnection { try await memory.catchUp(in: $0) }
                let remembered = memory.lookup([probe], maxDistance: 11).map(\.id)
                let rememberedShas = try await pool.withConnection { connection in
                    try await connection.query(
                        "SELECT sha256 FROM perceptual_hashes WHERE id = ANY(\(remembered)::bigint[]) ORDER BY sha256"
                    ).map { try $0.decode("sha256", as: String.self) }
                }
                #expect(rememberedShas == scanned)
                #expect(!scanned.isEmpty, "a probe \(flips) bits from a stored hash finds it")
            }
        }
    }

    @Test("CAPTURE_OUTSIDE_WINDOW: EXIF time days before the claimed time, or after submitting, goes to review")
    func captureWindow() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let early = VF.received(photos: [VF.photo(exif: VF.exif(minutes: -3 * 24 * 60))])
            let afterSubmit = VF.received(photos: [VF.photo(exif: VF.exif(minutes: 120))])  // submitted after 30 min
            try await VF.check([early, afterSubmit], pool: pool)
            for submission in [early, afterSubmit] {
                let decision = try #require(try await VF.decision(submission.submissionId, pool: pool))
                #expect(decision.outcome == "review")
                #expect(decision.reasonCodes == ["CAPTURE_OUTSIDE_WINDOW"])
            }
            let check = try #require(
                try await VF.checks(afterSubmit.submissionId, pool: pool)["CAPTURE_OUTSIDE_WINDOW"])
            guard case .array(let photos) = check.evidence["photos"], case .object(let photo) = photos.first else {
                Issue.record("no evidence")
                return
            }
            #expect(photo["afterSubmission"] == .bool(true))
            #expect(photo["capturedAtOffset"] == .string("+07:00"))
        }
    }

    @Test("NO_CAPTURE_METADATA: a JPEG without EXIF never auto-approves, not even with device GPS at the office")
    func noMetadata() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let stripped = VF.photo(exif: nil)
            let exifMarker = Array("Exif".utf8) + [0, 0]
            func hasExif(_ bytes: [UInt8]) -> Bool {
                bytes.indices.contains { bytes[$0...].starts(with: exifMarker) }
            }
            #expect(!hasExif(stripped.bytes) && hasExif(VF.photo(exif: VF.exif()).bytes))
            let submission = VF.received(photos: [stripped], device: VF.office)
            // Time in EXIF but no GPS: the location would rest on the device alone.
            let noGPS = VF.received(
                photos: [VF.photo(exif: VerificationPhotos.Exif(capturedAt: VF.activityAt))], device: VF.office)
            try await VF.check([submission, noGPS], pool: pool)
            for item in [submission, noGPS] {
                let decision = try #require(try await VF.decision(item.submissionId, pool: pool))
                #expect(decision.outcome == "review")
                #expect(decision.reasonCodes == ["NO_CAPTURE_METADATA"])
            }
            #expect(try await VF.events(SubmissionVerified.self, pool: pool).isEmpty)
            #expect(try await VF.events(ReviewAssigned.self, pool: pool).count == 2)
        }
    }

    @Test("OUTSIDE_GEOFENCE: photo GPS 5 km from the registered office, or a far device, goes to review")
    func geofence() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let elsewhere = GeoPoint(latitude: -6.9826 + 0.045, longitude: 110.4091)  // ≈ 5 km north
            let farPhoto = VF.received(photos: [VF.photo(exif: VF.exif(at: elsewhere))])
            // The next day (the daily cap is 2): a photo at the office, but the device 5 km away.
            let nextDay = VF.activityAt.addingTimeInterval(86_400)
            let farDevice = VF.received(
                photos: [
                    VF.photo(
                        exif: VerificationPhotos.Exif(
                            capturedAt: nextDay, latitude: VF.office.latitude, longitude: VF.office.longitude))
                ], activityAt: nextDay, device: elsewhere)
            let homeOK = VF.received(photos: [VF.photo(exif: VF.exif(at: VF.home))], place: "home")
            // Home first: the two waiting for review count toward the daily cap of 2.
            try await VF.check([homeOK, farPhoto, farDevice], pool: pool)
            for item in [farPhoto, farDevice] {
                let decision = try #require(try await VF.decision(item.submissionId, pool: pool))
                #expect(decision.outcome == "review")
                #expect(decision.reasonCodes == ["OUTSIDE_GEOFENCE"])
            }
            #expect(try await VF.decision(homeOK.submissionId, pool: pool)?.outcome == "approved")
            let check = try #require(try await VF.checks(farPhoto.submissionId, pool: pool)["OUTSIDE_GEOFENCE"])
            #expect(check.evidence["radiusMeters"] == .number(500))
            guard case .array(let positions) = check.evidence["positions"],
                case .object(let position) = positions.first,
                case .number(let distance) = position["distanceMeters"]
            else { Issue.record("no evidence"); return }
            #expect((4900...5100).contains(distance))
        }
    }

    @Test("DAILY_CAP: beyond the day's cap (Asia/Jakarta) is rejected, not as fraud; rejected ones do not count")
    func dailyCap() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let reused = VF.photo(exif: VF.exif())
            let first = VF.received(photos: [reused])
            let duplicate = VF.received(photos: [reused])  // rejected: does not count toward the cap
            let second = VF.received()
            try await VF.check([first, duplicate, second], pool: pool)
            // 23:30 the same Jakarta day (16:30 UTC): still the same day.
            let lateEvening = VF.activityAt.addingTimeInterval(14.5 * 3600)
            let third = VF.received(
                photos: [
                    VF.photo(
                        exif: VerificationPhotos.Exif(
                            capturedAt: lateEvening, latitude: VF.office.latitude, longitude: VF.office.longitude))
                ],
                activityAt: lateEvening)
            // 00:30 the next Jakarta day: a new day.
            let nextDay = VF.activityAt.addingTimeInterval(15.5 * 3600)
            let fourth = VF.received(
                photos: [
                    VF.photo(
                        exif: VerificationPhotos.Exif(
                            capturedAt: nextDay, latitude: VF.office.latitude, longitude: VF.office.longitude))
                ],
                activityAt: nextDay)
            try await VF.check([third, fourth], pool: pool)
            #expect(try await VF.decision(second.submissionId, pool: pool)?.outcome == "approved")
            let capped = try #require(try await VF.decision(third.submissionId, pool: pool))
            #expect(capped.outcome == "rejected" && capped.reasonCode == "DAILY_CAP" && !capped.fraud)
            #expect(try await VF.decision(fourth.submissionId, pool: pool)?.outcome == "approved")
            let check = try #require(try await VF.checks(third.submissionId, pool: pool)["DAILY_CAP"])
            #expect(check.evidence["countToday"] == .number(2) && check.evidence["dailyCap"] == .number(2))
            #expect(check.evidence["day"] == .string("2026-02-10"))
        }
    }

    @Test("two replicas checking at once: the daily cap holds and a shared photo has one owner")
    func replicasDoNotRace() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            // Two checkers with their own in-memory index, as two verification processes on one database.
            let replicas = [
                EvidenceChecker(source: VF.source, logger: VF.logger),
                EvidenceChecker(source: VF.source, logger: VF.logger),
            ]
            // Each replica gets a batch of two pilah_sampah (cap 2 a day) for Siti the same day; one photo is in
            // both. Five rounds, each on a later day.
            for round in 0..<5 {
                let day = VF.activityAt.addingTimeInterval(Double(round) * 86_400)
                func photo() -> VF.Photo {
                    VF.photo(
                        exif: VerificationPhotos.Exif(
                            capturedAt: day.addingTimeInterval(300), latitude: VF.office.latitude,
                            longitude: VF.office.longitude))
                }
                let shared = photo()
                let batches = [
                    [VF.received(photos: [shared], activityAt: day), VF.received(photos: [photo()], activityAt: day)],
                    [VF.received(photos: [photo()], activityAt: day), VF.received(photos: [shared], activityAt: day)],
                ]
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for (replica, batch) in zip(replicas, batches) {
                        group.addTask {
                            let events = try batch.map { try VF.inbound($0, from: .intake) }
                            try await pool.withTransaction { try await replica.handle(events, in: $0) }
                        }
                    }
                    try await group.waitForAll()
                }
                var outcomes: [(outcome: String, reason: String?)] = []
                for submission in batches.joined() {
                    let decision = try #require(try await VF.decision(submission.submissionId, pool: pool))
                    outcomes.append((decision.outcome, decision.reasonCode))
                }
                #expect(outcomes.filter { $0.outcome == "approved" }.count == 2, "round \(round): \(outcomes)")
                #expect(outcomes.filter { $0.reason == "DUPLICATE_EVIDENCE" }.count == 1, "round \(round): \(outcomes)")
            }
        }
    }

    @Test("FUTURE_DATE and IMPLAUSIBLE_QUANTITY are rejected automatically, not as fraud")
    func futureAndQuantity() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let future = VF.received(submittedAt: VF.activityAt.addingTimeInterval(-2 * 3600))
            let tooMany = VF.received(quantity: 9)
            let tooLittle = VF.received(activity: "bank_sampah", quantity: 0.2)
            let fraction = VF.received(quantity: 1.5)
            try await VF.check([future, tooMany, tooLittle, fraction], pool: pool)
            let futureDecision = try #require(try await VF.decision(future.submissionId, pool: pool))
            #expect(futureDecision.outcome == "rejected" && futureDecision.reasonCode == "FUTURE_DATE")
            #expect(!futureDecision.fraud && futureDecision.appealable)
            for item in [tooMany, tooLittle, fraction] {
                let decision = try #require(try await VF.decision(item.submissionId, pool: pool))
                #expect(decision.outcome == "rejected" && decision.reasonCode == "IMPLAUSIBLE_QUANTITY")
                #expect(!decision.fraud)
            }
            let check = try #require(try await VF.checks(tooMany.submissionId, pool: pool)["IMPLAUSIBLE_QUANTITY"])
            #expect(check.evidence["quantity"] == .number(9) && check.evidence["maxQuantity"] == .number(5))
        }
    }

    @Test("EARNING_BANNED: scoring's active ban (penalty.applied) rejects, and that rejection is not appealable")
    func earningBanned() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let penalty = PenaltyApplied(
                entryId: UUID(), nip: VF.siti, opd: "DINKES", points: -50, reasonCode: "DUPLICATE_EVIDENCE",
                reason: "Bukti ganda", period: "2026-Q1", appliedAt: VF.activityAt.addingTimeInterval(-86_400),
                earningBannedUntil: VF.activityAt.addingTimeInterval(7 * 86_400))
            try await pool.withTransaction { try await VF.reference.handle([try VF.inbound(penalty)], in: $0) }
            let banned = VF.received()
            let other = VF.received(nip: VF.budi, opd: "DISDIK")
            try await VF.check([banned, other], pool: pool)
            let decision = try #require(try await VF.decision(banned.submissionId, pool: pool))
            #expect(decision.outcome == "rejected" && decision.reasonCode == "EARNING_BANNED")
            #expect(!decision.appealable && !decision.fraud)
            #expect(try await VF.decision(other.submissionId, pool: pool)?.outcome == "approved")
            let rejected = try await VF.events(SubmissionRejected.self, pool: pool)
            #expect(rejected.first?.appealable == false)
        }
    }

    @Test("a submission received twice (same batch or a later one) is decided once")
    func decidedOnce() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool)
            let submission = VF.received()
            try await VF.check([submission, submission], pool: pool)
            try await VF.check([submission], pool: pool)
            #expect(try await VF.events(SubmissionVerified.self, pool: pool).count == 1)
            #expect(try await VF.events(SubmissionRejected.self, pool: pool).isEmpty, "its own photo is no duplicate")
        }
    }

    @Test("sampling sends an auto-approval to audit review; a claim worth the four-eyes threshold waits for people")
    func samplingAndFourEyesRouting() async throws {
        try await VF.withDatabase { pool in
            try await VF.seed(pool, program: VF.program(sampleRate: 1))
            let sampled = VF.received()
            let valuable = VF.received(activity: "bank_sampah", quantity: 30)  // 5 + 2 × 30 = 65 points ≥ 50
            try await VF.check([sampled, valuable], pool: pool)
            let decision = try #require(try await VF.decision(sampled.submissionId, pool: pool))
            #expect(decision.outcome == "approved" && decision.sampled)
            #expect(try await VF.events(SubmissionVerified.self, pool: pool).map(\.sampledForAudit) == [true])
            #expect(try await VF.decision(valuable.submissionId, pool: pool)?.outcome == "review")
            let assigned = try await VF.events(ReviewAssigned.self, pool: pool)
            #expect(assigned.map(\.trigger) == ["audit_sample", "checks"])
            #expect(assigned.map(\.requiredApprovals) == [1, 2])
        }
    }

    @Test("the roster keeps the newest record; a late older event does not overwrite it")
    func rosterOrdering() async throws {
        try await VF.withDatabase { pool in
            let moved = ASNUpdated(
                nip: VF.siti, name: "Siti Rahma", opd: "DLH", updatedAt: Date(timeIntervalSince1970: 1_768_000_000),
                locations: [RegisteredLocation(place: "office", latitude: -7, longitude: 110)])
            try await pool.withTransaction { try await VF.reference.handle([try VF.inbound(moved)], in: $0) }
            try await VF.seed(pool)  // the older enrolment arrives late
            let opd = try await pool.withConnection {
                try await $0.query("SELECT opd FROM roster WHERE nip = \(VF.siti)").first?.decode(
                    "opd", as: String.self)
            }
            #expect(opd == "DLH")
        }
    }
}
