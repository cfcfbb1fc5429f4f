-- Time-ordered ids (RFC 9562 version 7, as UUID.timeOrdered mints them in Swift) for the rows the consumer inserts
-- in bulk: notifications, gateway messages and webhook deliveries. gen_random_uuid() put every new row's primary
-- key entry on a random leaf page; these ids grow at the index's right edge, in pages already in memory.
-- A version 4 UUID from gen_random_uuid() with its first 48 bits replaced by the Unix time in milliseconds and its
-- version nibble turned from 4 (0100) into 7 (0111): set_bit numbers bits from the least significant bit of
-- each byte, so bits 52 and 53 are the two low bits of byte 6's high nibble.
CREATE FUNCTION uuid_time_ordered() RETURNS uuid LANGUAGE sql VOLATILE PARALLEL SAFE
RETURN encode(
    set_bit(set_bit(
        overlay(uuid_send(gen_random_uuid())
                PLACING substring(int8send(floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint) FROM 3)
                FROM 1 FOR 6),
        52, 1), 53, 1),
    'hex')::uuid;
