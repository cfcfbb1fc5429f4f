import Contracts
import Foundation

/// One realistic payload of every event, with times at whole microseconds so JSON round trips are exact.
enum Samples {
    static func time(_ string: String) -> Date { RFC3339.parse(string)! }

    static let submissionId = UUID(uuidString: "6F1C2E9A-3B4D-4E5F-8A7B-1C2D3E4F5A6B")!
    static let entryId = UUID(uuidString: "0A1B2C3D-4E5F-4061-8273-94A5B6C7D8E9")!
    static let nip = "198503152010011001"

    static let received = SubmissionReceived(
        submissionId: submissionId,
        nip: nip,
        name: "Siti Rahayu",
        opd: "DLH",
        program: "peduli-sampah",
        activity: "bank_sampah",
        place: "home",
        activityAt: time("2026-03-14T08:30:00+07:00"),
        submittedAt: time("2026-03-14T02:00:00.123456Z"),
        quantity: 2.5,
        unit: "kg",
        note: "Setor ke bank sampah RW 03",
        evidence: [
            EvidenceRef(
                sha256: String(repeating: "ab", count: 32),
                mediaType: "image/jpeg",
                sizeBytes: 1_234_567,
                capture: CaptureMetadata(
                    capturedAt: time("2026-03-14T01:29:00Z"),
                    latitude: -6.9932,
                    longitude: 110.4203,
                    cameraMake: "samsung",
                    cameraModel: "SM-A546E"
                ),
                perceptualHash: "f0e1d2c3b4a59687"
            ),
            EvidenceRef(sha256: String(repeating: "cd", count: 32), mediaType: "image/png", sizeBytes: 98_765),
        ],
        deviceLocation: GeoPoint(latitude: -6.9931, longitude: 110.4201, accuracy: 12)
    )

    static let all: [any EventPayload] = [
        received,
        SubmissionVerified(
            submissionId: submissionId,
            nip: nip,
            opd: "DLH",
            program: "peduli-sampah",
            activity: "bank_sampah",
            place: "home",
            activityAt: time("2026-03-14T01:30:00Z"),
            quantity: 2.5,
            decidedAt: time("2026-03-14T02:00:01Z"),
            decidedBy: SubmissionVerified.automatic,
            checks: [],
            sampledForAudit: true
        ),
        SubmissionRejected(
            submissionId: submissionId,
            nip: nip,
            opd: "DLH",
            reasonCode: ReasonCode.duplicateEvidence.rawValue,
            reason: ReasonCode.duplicateEvidence.indonesianText,
            decidedAt: time("2026-03-14T02:00:01Z"),
            decidedBy: "auto",
            fraud: true,
            reasonCodes: ["DUPLICATE_EVIDENCE", "NO_CAPTURE_METADATA"],
            appealable: true
        ),
        SubmissionRevoked(
            submissionId: submissionId,
            nip: nip,
            opd: "DLH",
            reasonCode: "REVIEWER_REJECTED",
            reason: "Foto tidak menunjukkan kegiatan pemilahan.",
            decidedAt: time("2026-03-20T03:00:00Z"),
            decidedBy: "197001011995031002",
            fraud: false,
            approvedAt: time("2026-03-14T02:00:01Z")
        ),
        ReviewAssigned(
            reviewId: UUID(),
            submissionId: submissionId,
            nip: nip,
            opd: "DLH",
            trigger: ReviewAssigned.Trigger.checks.rawValue,
            checks: ["NO_CAPTURE_METADATA"],
            assignedAt: time("2026-03-14T02:00:01Z"),
            reviewerNip: "197001011995031002",
            leaseExpiresAt: time("2026-03-14T02:15:01Z")
        ),
        AppealFiled(
            appealId: UUID(),
            submissionId: submissionId,
            nip: nip,
            opd: "DLH",
            statement: "Foto diambil sendiri di rumah.",
            filedAt: time("2026-03-15T01:00:00Z"),
            originalReasonCode: "NEAR_DUPLICATE_EVIDENCE",
            originalDecidedBy: "auto"
        ),
        PointsAwarded(
            entryId: entryId,
            submissionId: submissionId,
            nip: nip,
            opd: "DLH",
            program: "peduli-sampah",
            activity: "bank_sampah",
            points: 15,
            ruleVersion: "peduli-sampah@1",
            period: "2026-Q1",
            awardedAt: time("2026-03-14T02:00:02Z"),
            totalInPeriod: 120,
            name: "Siti Rahayu",
            breakdown: [PointsComponent(kind: "base", points: 10), PointsComponent(kind: "per_kg", points: 5)]
        ),
        PointsReversed(
            entryId: UUID(),
            reversesEntryId: entryId,
            submissionId: submissionId,
            nip: nip,
            points: -15,
            reason: "Persetujuan dibatalkan oleh audit.",
            opd: "DLH",
            reasonCode: "REVIEWER_REJECTED",
            period: "2026-Q1",
            reversedAt: time("2026-03-20T03:00:01Z"),
            totalInPeriod: 105
        ),
        PenaltyApplied(
            entryId: UUID(),
            nip: nip,
            opd: "DLH",
            points: -20,
            reasonCode: "DUPLICATE_EVIDENCE",
            reason: "Penggunaan ulang foto bukti.",
            period: "2026-Q1",
            appliedAt: time("2026-03-14T02:00:02Z"),
            submissionId: submissionId,
            earningBannedUntil: time("2026-03-21T17:00:00Z")
        ),
        RankingPublished(
            period: "2026-Q1",
            scope: RankingPublished.cityScope,
            program: "peduli-sampah",
            publishedAt: time("2026-03-31T17:00:00Z"),
            entries: [
                RankingEntry(rank: 1, nip: nip, name: "Siti Rahayu", opd: "DLH", points: 120),
                RankingEntry(rank: 2, nip: "199001012015032003", name: "Budi", opd: "BKPP", points: 90),
                RankingEntry(rank: 2, nip: "199202022020121001", name: "Ani", opd: "DLH", points: 90),
                RankingEntry(rank: 4, nip: "199303032019031001", name: "Dewi", opd: "DISKOMINFO", points: 70),
            ],
            final: true,
            totalRanked: 4
        ),
        AwardGranted(
            awardId: UUID(),
            scheme: "asn-teladan",
            stage: "quarter",
            period: "2026-Q1",
            nip: nip,
            name: "Siti Rahayu",
            opd: "DLH",
            rank: 1,
            points: 120,
            prize: "Uang pembinaan Rp 1.000.000",
            prizeAmountRupiah: 1_000_000,
            grantedAt: time("2026-04-01T02:00:00Z")
        ),
        CommitmentEvaluated(
            commitmentId: UUID(),
            opd: "DLH",
            period: "2026-Q1",
            metric: CommitmentEvaluated.Metric.participationRate.rawValue,
            target: 80,
            baseline: 55,
            actual: 72.5,
            met: false,
            evaluatedAt: time("2026-04-01T00:00:00Z"),
            inactiveCount: 11
        ),
        SanctionImposed(
            sanctionId: UUID(),
            kind: SanctionImposed.Kind.lowPerformance.rawValue,
            opd: "DLH",
            nip: "199303032019031001",
            period: "2026-Q1",
            reason: "Tidak ada kegiatan yang disetujui selama Triwulan I 2026.",
            imposedAt: time("2026-04-01T00:00:00Z"),
            tppAdjustmentPercent: -2.5
        ),
        ProgramPublished(
            program: "peduli-sampah",
            programVersion: "1",
            name: "Reward ASN Peduli Sampah",
            activities: [
                ActivityDefinition(
                    code: "pilah_sampah",
                    name: "Pilah sampah dari sumber",
                    unit: "count",
                    places: ["office", "home"],
                    basePoints: 5,
                    dailyCap: 1,
                    weeklyCap: 7
                ),
                ActivityDefinition(
                    code: "bank_sampah",
                    name: "Setor bank sampah",
                    unit: "kg",
                    places: ["home"],
                    basePoints: 10,
                    pointsPerKg: 2,
                    dailyCap: 1,
                    maxQuantity: 50
                ),
            ],
            publishedAt: time("2026-01-01T00:00:00Z"),
            placeFactors: ["office": 1, "home": 1.2],
            active: true,
            verification: VerificationPolicy(captureWindowHours: 24, geofenceMeters: 500, auditSampleRate: 0.05)
        ),
        ASNEnrolled(
            nip: nip,
            name: "Siti Rahayu",
            opd: "DLH",
            enrolledAt: time("2026-01-02T01:00:00Z"),
            opdName: "Dinas Lingkungan Hidup",
            phone: "+6281234567890",
            messagingOptIn: true,
            locations: [RegisteredLocation(place: "office", latitude: -6.99, longitude: 110.42, radiusMeters: 300)],
            roles: ["asn"]
        ),
        ASNUpdated(
            nip: nip,
            name: "Siti Rahayu",
            opd: "BKPP",
            updatedAt: time("2026-02-02T01:00:00Z"),
            active: true,
            changedFields: ["opd"]
        ),
    ]
}
