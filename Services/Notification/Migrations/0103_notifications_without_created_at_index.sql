-- notifications_nip (nip, created_at DESC) is left from the first inbox, which paged by creation time. The inbox
-- pages by seq (notifications_nip_seq) and counts unread ones by notifications_unread; nothing reads this index,
-- yet every notification paid one more random index entry.
DROP INDEX notifications_nip;
