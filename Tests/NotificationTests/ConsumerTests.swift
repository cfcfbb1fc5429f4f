import Contracts
import Database
import Foundation
import TestSupport
import Testing

@testable import Notification

/// The consumer on the real PostgreSQL, fed batches as the inbox consumer feeds it.
@Suite("Notification: consumed events")
struct ConsumerTests {
    typealias F = NotificationFixture

    @Test("points become an inbox entry with the rendered Indonesian text, and a WhatsApp message for an opted-in ASN")
    func pointsAwarded() async throws {
        try await F.withStack { _, stack in
            let submission = UUID()
            // 11 Jan 18:30 UTC = 12 Jan in Jakarta.
            let at = ISO8601DateFormatter().date(from: "2026-01-11T18:30:00Z")!
            try await F.deliver([try F.program(), try F.enrolled(F.siti)], to: stack.pool)
            try await F.deliver([try F.verified(submission, at: at)], to: stack.pool)
            try await F.deliver([try F.awarded(submission, points: 1250, total: 1390)], to: stack.pool)

            let stored = try await F.notifications(stack.pool)
            #expect(stored.map(\.kind) == ["submission.verified", "points.awarded"])
            let points = try #require(stored.last)
            #expect(points.nip == F.siti)
            #expect(points.title == "Poin bertambah +1.250")
            #expect(
                points.body
                    == "Kegiatan *Memilah sampah* Anda pada 12 Jan disetujui: +1.250 poin (total triwulan 2026-Q1: 1.390)."
            )
            #expect(points.bodyEn.hasPrefix("Your activity *Memilah sampah* on 12 Jan was approved"))

            // The approval is in-app only; the points message also goes to WhatsApp.
            let messages = try await stack.pool.withConnection { connection in
                try await connection.query("SELECT nip, channel, phone, body, status FROM gateway_messages").map {
                    (
                        try $0.decode("nip", as: String.self), try $0.decode("channel", as: String.self),
                        try $0.decode("phone", as: String.self), try $0.decode("body", as: String.self)
                    )
                }
            }
            #expect(messages.count == 1)
            #expect(messages.first?.1 == "whatsapp")
            #expect(messages.first?.2 == "+6281234567890")
            #expect(messages.first?.3 == points.body)

            // Their ids are time-ordered (uuid_time_ordered(): version 7, the first 48 bits the time of insert), so
            // each new row's primary-key entry goes to the index's right edge.
            let ids = try await stack.pool.withConnection { connection in
                try await connection.query(
                    """
                    SELECT id::text AS id, (extract(epoch FROM created_at) * 1000)::int8 AS created FROM notifications
                    UNION ALL SELECT id::text, (extract(epoch FROM created_at) * 1000)::int8 FROM gateway_messages
                    """
                ).map { (try $0.decode("id", as: String.self), try $0.decode("created", as: Int.self)) }
            }
            #expect(ids.count == 3)
            for (id, created) in ids {
                let hex = id.replacingOccurrences(of: "-", with: "")
                #expect(Array(hex)[12] == "7", "version 7: \(id)")
                let minted = Int(hex.prefix(12), radix: 16) ?? 0
                #expect(abs(minted - created) < 60_000, "minted at \(minted), stored at \(created)")
            }
        }
    }

    @Test("a duplicate delivery, even in one batch or as a second copy of the event, notifies once per channel")
    func duplicates() async throws {
        try await F.withStack { _, stack in
            try await F.deliver([try F.enrolled(F.siti)], to: stack.pool)
            let event = try F.awarded()
            let consumer = try await F.consumer()
            // Straight into the handler twice (as two instances would if the inbox were bypassed).
            try await stack.pool.withTransaction {
                try await consumer.handle([F.inbound(event), F.inbound(event)], in: $0)
            }
            try await stack.pool.withTransaction { try await consumer.handle([F.inbound(event)], in: $0) }
            try await F.deliver([event, event], to: stack.pool)
            #expect(try await F.count(stack.pool, "SELECT count(*) FROM notifications") == 1)
            #expect(try await F.count(stack.pool, "SELECT count(*) FROM gateway_messages") == 1)
            #expect(try await F.count(stack.pool, "SELECT count(*) FROM stream_events") == 1)
        }
    }

    @Test("rejections, appeals, penalties, awards and sanctions each get their own message; opt-out means in-app only")
    func kinds() async throws {
        try await F.withStack { _, stack in
            try await F.deliver(
                [
                    try F.program(), try F.enrolled(F.budi, name: "Budi", optIn: false),
                    try F.enrolled(F.head, name: "Kepala DLH", head: true),
                ], to: stack.pool)
            let penalty = try CloudEvent(
                PenaltyApplied(
                    entryId: UUID(), nip: F.budi, opd: "DLH", points: -20, reasonCode: "DUPLICATE_EVIDENCE",
                    reason: "Bukti ganda", period: "2026-Q1", appliedAt: Date(), totalInPeriod: 100,
                    earningBannedUntil: ISO8601DateFormatter().date(from: "2026-02-01T05:00:00Z")), from: .scoring)
            let award = try CloudEvent(
                AwardGranted(
                    awardId: UUID(), scheme: "semarang", stage: "quarter", period: "2026-Q1", nip: F.budi, opd: "DLH",
                    rank: 1, points: 1500, prize: "Uang pembinaan Rp 1.000.000", grantedAt: Date()), from: .scoring)
            let commitment = try CloudEvent(
                CommitmentEvaluated(
                    commitmentId: UUID(), opd: "DLH", period: "2026-Q1", metric: "participation_rate", target: 80,
                    actual: 62.5, met: false, evaluatedAt: Date(), inactiveCount: 12), from: .scoring)
            let sanction = try CloudEvent(
                SanctionImposed(
                    sanctionId: UUID(), kind: "low_performance", opd: "DLH", nip: F.budi, period: "2026-Q1",
                    reason: "Tidak ada kegiatan disetujui", imposedAt: Date(), tppAdjustmentPercent: -2.5),
                from: .scoring)
            try await F.deliver(
                [try F.rejected(), try F.rejected(onAppeal: true), penalty, award, commitment, sanction], to: stack.pool
            )
            let stored = try await F.notifications(stack.pool)
            let budi = stored.filter { $0.nip == F.budi }
            #expect(
                budi.map(\.kind) == [
                    "submission.rejected", "appeal.rejected", "penalty.applied", "award.granted", "sanction.imposed",
                ])
            #expect(budi[0].body.contains("*Setor ke bank sampah*"))
            #expect(budi[0].body.contains("Foto bukti ini sudah pernah digunakan"))
            #expect(budi[0].body.contains("Anda dapat mengajukan banding"))
            #expect(!budi[1].body.contains("mengajukan banding satu kali"))
            #expect(budi[1].body.contains("final"))
            #expect(
                budi[2].body
                    == "Anda dikenai pengurangan -20 poin: Bukti ganda (kode DUPLICATE_EVIDENCE). Anda tidak dapat memperoleh poin sampai 1 Feb 2026."
            )
            #expect(
                budi[3].body
                    == "Selamat! Anda peringkat 1 pada triwulan 2026-Q1 dengan 1.500 poin dan meraih: Uang pembinaan Rp 1.000.000."
            )
            #expect(budi[4].body.contains("Penyesuaian TPP: -2,5%"))
            // The OPD's commitment goes to its head.
            let head = try #require(stored.first { $0.nip == F.head })
            #expect(head.kind == "commitment.evaluated")
            #expect(
                head.body
                    == "Komitmen Lelang Kinerja OPD DLH (tingkat partisipasi) pada triwulan 2026-Q1 tidak tercapai: 62,5% dari target 80%. 12 ASN belum punya kegiatan yang disetujui."
            )
            // Budi opted out of WhatsApp/SMS: nothing queued for him; the head gets the commitment message.
            #expect(try await F.count(stack.pool, "SELECT count(*) FROM gateway_messages WHERE nip = '\(F.budi)'") == 0)
            #expect(try await F.count(stack.pool, "SELECT count(*) FROM gateway_messages WHERE nip = '\(F.head)'") == 1)
        }
    }

    @Test("asn.updated changes contacts; an older copy does not overwrite a newer one")
    func contacts() async throws {
        try await F.withStack { _, stack in
            let newer = try CloudEvent(
                ASNUpdated(
                    nip: F.siti, name: "Siti", opd: "BKPP", updatedAt: Date(), phone: "+628999", messagingOptIn: false),
                from: .scoring)
            let older = try CloudEvent(
                ASNUpdated(
                    nip: F.siti, name: "Siti", opd: "DLH", updatedAt: Date(timeIntervalSinceNow: -3600),
                    phone: "+628111", messagingOptIn: true), from: .scoring)
            try await F.deliver([try F.enrolled(F.siti)], to: stack.pool)
            try await F.deliver([newer], to: stack.pool)
            try await F.deliver([older], to: stack.pool)
            let row = try await stack.pool.withConnection { connection in
                try await connection.query("SELECT opd, phone, messaging_opt_in FROM contacts WHERE nip = \(F.siti)")
                    .first
            }
            #expect(try row?.decode("opd", as: String.self) == "BKPP")
            #expect(try row?.decode("phone", as: String.self) == "+628999")
            #expect(try row?.decode("messaging_opt_in", as: Bool.self) == false)
        }
    }
}
