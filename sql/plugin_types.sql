--
-- plugin_types: how every built-in type is encoded (decoderbufs/src/datum.c),
-- with edge values, and that every value sent gives back the original.
--
-- Each type has a table t_<type> (id, v).  The decoded INSERTs are kept in
-- a temporary table; for each value we rebuild the text a consumer would
-- feed to the type's input function (for typed fields: recomputed in SQL
-- from the number) and compare it with the row still in the table, both as
-- text and with the type's equality.
--
SELECT 'init' FROM pg_create_logical_replication_slot('types', 'decoderbufs');
-- a time zone that is neither UTC nor in the time zone database
SET TIME ZONE INTERVAL '+05:30' HOUR TO MINUTE;

CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy', 'with space', 'quote"d');
CREATE DOMAIN posint AS int CHECK (VALUE > 0);
CREATE DOMAIN short_text AS text CHECK (length(VALUE) < 20);
CREATE TYPE inner_t AS (a int, b text);
CREATE TYPE outer_t AS (i inner_t, arr int[], t timestamp, m mood);
-- a user-defined base type without C: text's own I/O functions
CREATE TYPE mytext;
CREATE FUNCTION mytext_in(cstring) RETURNS mytext
    AS 'textin' LANGUAGE internal STRICT IMMUTABLE;
CREATE FUNCTION mytext_out(mytext) RETURNS cstring
    AS 'textout' LANGUAGE internal STRICT IMMUTABLE;
CREATE TYPE mytext (INPUT = mytext_in, OUTPUT = mytext_out,
                    LIKE = text, CATEGORY = 'U');

BEGIN;
CREATE TABLE t_int2 (id serial PRIMARY KEY, v int2);
INSERT INTO t_int2 (v) VALUES (-32768), (32767), (0);
CREATE TABLE t_int4 (id serial PRIMARY KEY, v int4);
INSERT INTO t_int4 (v) VALUES (-2147483648), (2147483647), (0);
CREATE TABLE t_int8 (id serial PRIMARY KEY, v int8);
INSERT INTO t_int8 (v) VALUES (-9223372036854775808), (9223372036854775807), (0);
CREATE TABLE t_oid (id serial PRIMARY KEY, v oid);
INSERT INTO t_oid (v) VALUES (0), (2147483648), (4294967295);
CREATE TABLE t_float4 (id serial PRIMARY KEY, v float4);
INSERT INTO t_float4 (v) VALUES ('NaN'), ('Infinity'), ('-Infinity'), ('-0'), (0),
    ('1.4e-45'), ('1.1754942e-38'), ('3.4028235e38'), (0.1), (-1.5);
CREATE TABLE t_float8 (id serial PRIMARY KEY, v float8);
INSERT INTO t_float8 (v) VALUES ('NaN'), ('Infinity'), ('-Infinity'), ('-0'), (0),
    ('5e-324'), ('2.2250738585072014e-308'), ('1e-300'), ('1.7976931348623157e308'),
    (0.1), (-1.5);
CREATE TABLE t_numeric (id serial PRIMARY KEY, v numeric);
INSERT INTO t_numeric (v) VALUES ('NaN'), ('Infinity'), ('-Infinity'), (0), ('-1.50'),
    (('1' || repeat('0', 998) || '.5')::numeric), (('0.' || repeat('0', 200) || '1')::numeric),
    ('-12345678901234567890.123456789012345678901234567890');
CREATE TABLE t_numeric_typmod (id serial PRIMARY KEY, v numeric(5,-3));
INSERT INTO t_numeric_typmod (v) VALUES (12345678), (-99999499), (0);
CREATE TABLE t_numeric_scale (id serial PRIMARY KEY, v numeric(10,4));
INSERT INTO t_numeric_scale (v) VALUES (1), (-0.00005), (123456.78905);
CREATE TABLE t_bool (id serial PRIMARY KEY, v bool);
INSERT INTO t_bool (v) VALUES (true), (false);
CREATE TABLE t_char (id serial PRIMARY KEY, v "char");
INSERT INTO t_char (v) VALUES ('a'), (''), ('\200'), ('"'), ('\');
CREATE TABLE t_bpchar (id serial PRIMARY KEY, v char(5));
INSERT INTO t_bpchar (v) VALUES ('ab'), (''), ('abcde'), ('a\"''');
-- (non-ASCII text where its length in characters does not show: that
-- depends on the database encoding, which the test does not choose)
CREATE TABLE t_varchar (id serial PRIMARY KEY, v varchar(10));
INSERT INTO t_varchar (v) VALUES (''), ('x'), ('0123456789'), ('  spaces  '), ('é ü');
CREATE TABLE t_text (id serial PRIMARY KEY, v text);
INSERT INTO t_text (v) VALUES (''), ('plain'), ('ünïcödé ☃ 𝄞 日本語'),
    (E'new\nline\r\nand\ttab'), ('it''s "quoted"'), (E'back\\slash \\\\ \\x00 \\n'),
    ('NULL'), (' '), (E'\u0001control\u001f'), (repeat('long ', 100));
CREATE TABLE t_name (id serial PRIMARY KEY, v name);
INSERT INTO t_name (v) VALUES ('some_name'), ('Mixed Case "q"'), (repeat('n', 63)), ('');
CREATE TABLE t_bytea (id serial PRIMARY KEY, v bytea);
INSERT INTO t_bytea (v) VALUES (''), ('\x00'), ('\x00ff0001'), ('abc'),
    ('\x5c7830'), (decode(repeat('00ff', 50), 'hex'));
CREATE TABLE t_date (id serial PRIMARY KEY, v date);
INSERT INTO t_date (v) VALUES ('infinity'), ('-infinity'), ('4714-11-24 BC'),
    ('4713-01-01 BC'), ('5874897-12-31'), ('1970-01-01'), ('1969-12-31'),
    ('2000-02-29');
CREATE TABLE t_time (id serial PRIMARY KEY, v time);
INSERT INTO t_time (v) VALUES ('00:00:00'), ('24:00:00'), ('23:59:59.999999'),
    ('12:34:56.789');
CREATE TABLE t_timetz (id serial PRIMARY KEY, v timetz);
INSERT INTO t_timetz (v) VALUES ('00:00:00+15:59'), ('24:00:00-15:59'),
    ('10:00:00+02'), ('12:34:56.123456-05:30'), ('00:00:00+00');
CREATE TABLE t_timestamp (id serial PRIMARY KEY, v timestamp);
INSERT INTO t_timestamp (v) VALUES ('infinity'), ('-infinity'),
    ('4714-11-24 00:00:00 BC'), ('1970-01-01 00:00:00'),
    ('1969-12-31 23:59:59.999999'), ('2000-01-01 00:00:00.000001'),
    ('2020-02-29 12:34:56.789012'),
    -- the last value whose microseconds since 1970 fit below int64's maximum,
    -- then the first that does not, and the largest timestamp
    ('294247-01-10 04:00:54.775806'), ('294247-01-10 04:00:54.775807'),
    ('294276-12-31 23:59:59.999999');
CREATE TABLE t_timestamp3 (id serial PRIMARY KEY, v timestamp(3));
INSERT INTO t_timestamp3 (v) VALUES ('2020-01-01 12:34:56.7896'), ('1900-01-01');
CREATE TABLE t_timestamptz (id serial PRIMARY KEY, v timestamptz);
INSERT INTO t_timestamptz (v) VALUES ('infinity'), ('-infinity'),
    ('4714-11-24 00:00:00+00 BC'), ('1970-01-01 00:00:00+00'),
    ('2020-06-15 12:00:00.000001+05:30'), ('2020-03-08 02:30:00 America/New_York'),
    ('294247-01-10 04:00:54.775806+00'), ('294247-01-10 04:00:54.775807+00'),
    ('294276-12-31 23:59:59.999999+00');
CREATE TABLE t_interval (id serial PRIMARY KEY, v interval);
INSERT INTO t_interval (v) VALUES ('0'), ('1 year 2 mons 3 days 04:05:06.5'),
    ('-1 days'), ('1 mon -1 days +00:00:00.000001'), ('-178000000 years'),
    ('2147483647 mons 2147483647 days 2562047788:00:54.775807'),
    ('-2147483648 mons -2147483648 days -2562047788:00:54.775807');
CREATE TABLE t_uuid (id serial PRIMARY KEY, v uuid);
INSERT INTO t_uuid (v) VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'),
    ('00000000-0000-0000-0000-000000000000');
CREATE TABLE t_json (id serial PRIMARY KEY, v json);
INSERT INTO t_json (v) VALUES ('{"a": [1, 2.50, "x"],  "b": null}'), ('"str"'),
    ('  [ ]  '), ('{"k": "é \" \\ \n"}');
CREATE TABLE t_jsonb (id serial PRIMARY KEY, v jsonb);
INSERT INTO t_jsonb (v) VALUES ('{"b": 1, "a": [1.50, "é"]}'), ('null'), ('{}'),
    ('{"k": "\" \\ \n \u0001"}');
-- (xml's output function drops a default XML declaration, as COPY does)
CREATE TABLE t_xml (id serial PRIMARY KEY, v xml);
INSERT INTO t_xml (v) VALUES ('<a b="1">text &amp; more</a>'), (''),
    ('<?xml version="1.0"?><r/>');
CREATE TABLE t_inet (id serial PRIMARY KEY, v inet);
INSERT INTO t_inet (v) VALUES ('192.168.1.1/24'), ('10.0.0.1'), ('::1'),
    ('2001:db8::1/64');
CREATE TABLE t_cidr (id serial PRIMARY KEY, v cidr);
INSERT INTO t_cidr (v) VALUES ('10.0.0.0/8'), ('2001:db8::/32');
CREATE TABLE t_macaddr (id serial PRIMARY KEY, v macaddr);
INSERT INTO t_macaddr (v) VALUES ('08:00:2b:01:02:03'), ('ff:ff:ff:ff:ff:ff');
CREATE TABLE t_macaddr8 (id serial PRIMARY KEY, v macaddr8);
INSERT INTO t_macaddr8 (v) VALUES ('08:00:2b:01:02:03:04:05'), ('08:00:2b:01:02:03');
CREATE TABLE t_bit (id serial PRIMARY KEY, v bit(8));
INSERT INTO t_bit (v) VALUES (B'10101010'), (B'00000000');
CREATE TABLE t_varbit (id serial PRIMARY KEY, v varbit);
INSERT INTO t_varbit (v) VALUES (B''), (B'1'), (B'0101010101010101010');
CREATE TABLE t_money (id serial PRIMARY KEY, v money);
INSERT INTO t_money (v) VALUES ('-92233720368547758.08'), ('92233720368547758.07'),
    ('0.01'), ('-1.5');
CREATE TABLE t_point (id serial PRIMARY KEY, v point);
INSERT INTO t_point (v) VALUES ('(1.5,-2.5)'), ('(NaN,Infinity)'), ('(-0,1e-300)');
CREATE TABLE t_line (id serial PRIMARY KEY, v line);
INSERT INTO t_line (v) VALUES ('{1,-1,0}'), ('{0,1,-0.1}');
CREATE TABLE t_lseg (id serial PRIMARY KEY, v lseg);
INSERT INTO t_lseg (v) VALUES ('[(0,0),(1,1)]'), ('[(-1.5,2),(1e-300,3)]');
CREATE TABLE t_box (id serial PRIMARY KEY, v box);
INSERT INTO t_box (v) VALUES ('(1,1),(0,0)'), ('(0,0),(2,3)');
CREATE TABLE t_path (id serial PRIMARY KEY, v path);
INSERT INTO t_path (v) VALUES ('[(0,0),(1,1),(2,0)]'), ('((0,0),(1,1),(2,0))');
CREATE TABLE t_polygon (id serial PRIMARY KEY, v polygon);
INSERT INTO t_polygon (v) VALUES ('((0,0),(1,1),(1,0))'), ('((0.1,0.2))');
CREATE TABLE t_circle (id serial PRIMARY KEY, v circle);
INSERT INTO t_circle (v) VALUES ('<(0,0),1.5>'), ('<(-1,1e-300),0>');
CREATE TABLE t_tsvector (id serial PRIMARY KEY, v tsvector);
INSERT INTO t_tsvector (v) VALUES ('a fat cat:3A sat:1,2 ''it''''s'''), ('');
CREATE TABLE t_tsquery (id serial PRIMARY KEY, v tsquery);
INSERT INTO t_tsquery (v) VALUES ('fat & (rat | cat)'), ('!a <-> b:*');
CREATE TABLE t_pg_lsn (id serial PRIMARY KEY, v pg_lsn);
INSERT INTO t_pg_lsn (v) VALUES ('0/0'), ('FFFFFFFF/FFFFFFFF'), ('16/B374D848');
CREATE TABLE t_int4_array (id serial PRIMARY KEY, v int4[]);
INSERT INTO t_int4_array (v) VALUES ('{{1,2},{3,4}}'), ('{1,NULL,3}'), ('{}'),
    ('[0:1]={-2147483648,2147483647}'), ('{{{1}},{{2}}}');
CREATE TABLE t_text_array (id serial PRIMARY KEY, v text[]);
INSERT INTO t_text_array (v) VALUES
    (ARRAY['a "quoted"', 'back\slash', NULL, 'NULL', '', 'comma,brace}', E'new\nline']),
    ('{}'), (ARRAY[ARRAY['x', 'y'], ARRAY['z', NULL]]);
CREATE TABLE t_float8_array (id serial PRIMARY KEY, v float8[]);
INSERT INTO t_float8_array (v) VALUES ('{NaN,Infinity,-0,1e-300,0.1}');
CREATE TABLE t_timestamp_array (id serial PRIMARY KEY, v timestamptz[]);
INSERT INTO t_timestamp_array (v) VALUES ('{infinity,"2020-01-01 00:00:00+00",NULL}');
CREATE TABLE t_bytea_array (id serial PRIMARY KEY, v bytea[]);
INSERT INTO t_bytea_array (v) VALUES (ARRAY['\x00ff'::bytea, '', NULL]);
CREATE TABLE t_enum (id serial PRIMARY KEY, v mood);
INSERT INTO t_enum (v) VALUES ('sad'), ('with space'), ('quote"d');
CREATE TABLE t_enum_array (id serial PRIMARY KEY, v mood[]);
INSERT INTO t_enum_array (v) VALUES ('{sad,"with space","quote\"d"}');
CREATE TABLE t_posint (id serial PRIMARY KEY, v posint);
INSERT INTO t_posint (v) VALUES (1), (2147483647);
CREATE TABLE t_short_text (id serial PRIMARY KEY, v short_text);
INSERT INTO t_short_text (v) VALUES (''), ('é "x"');
CREATE TABLE t_composite (id serial PRIMARY KEY, v outer_t);
INSERT INTO t_composite (v) VALUES
    (ROW(ROW(1, 'x,y "q" \'), '{1,2}', '2020-01-01 00:00:00', 'with space')),
    (ROW(ROW(NULL, ''), NULL, 'infinity', NULL)), (ROW(NULL, NULL, NULL, NULL));
CREATE TABLE t_int4range (id serial PRIMARY KEY, v int4range);
INSERT INTO t_int4range (v) VALUES ('[1,10)'), ('empty'), ('(,)'), ('[-2147483648,0]');
CREATE TABLE t_numrange (id serial PRIMARY KEY, v numrange);
INSERT INTO t_numrange (v) VALUES ('[1.50,2.5]'), ('(,NaN)');
CREATE TABLE t_tstzrange (id serial PRIMARY KEY, v tstzrange);
INSERT INTO t_tstzrange (v) VALUES ('["2020-01-01 00:00:00+00",infinity)');
CREATE TABLE t_daterange (id serial PRIMARY KEY, v daterange);
INSERT INTO t_daterange (v) VALUES ('[2020-01-01,2020-02-01]'), ('(-infinity,)');
CREATE TABLE t_int4multirange (id serial PRIMARY KEY, v int4multirange);
INSERT INTO t_int4multirange (v) VALUES ('{[1,3),[5,7)}'), ('{}');
CREATE TABLE t_datemultirange (id serial PRIMARY KEY, v datemultirange);
INSERT INTO t_datemultirange (v) VALUES ('{[2020-01-01,2020-01-05),[2021-01-01,)}');
CREATE TABLE t_mytext (id serial PRIMARY KEY, v mytext);
INSERT INTO t_mytext (v) VALUES ('user type'), ('');
-- NULL, for a typed and a text encoding
INSERT INTO t_int4 (v) VALUES (NULL);
INSERT INTO t_text (v) VALUES (NULL);
COMMIT;

-- Decode once, in binary (the wire format) and in debug-mode (the same
-- messages as JSON text), up to the same point.
SELECT pg_current_wal_lsn() AS end_lsn \gset
CREATE TEMP TABLE msgs AS
SELECT n, decoderbufs_to_json(data) - 'commit_time' - 'transaction_id' AS m
FROM pg_logical_slot_peek_binary_changes('types', :'end_lsn', NULL,
                                         'skip-empty-xacts', '1') WITH ORDINALITY c(lsn, xid, data, n);
-- Text output does not depend on the session's settings: the plugin pins
-- them while it decodes, and gives them back afterwards.
SET DateStyle = 'SQL, DMY';
SET IntervalStyle = 'sql_standard';
SET extra_float_digits = 0;
SET bytea_output = 'escape';
SELECT count(*) AS messages,
       bool_and(m = decoderbufs_to_json(data) - 'commit_time' - 'transaction_id') AS same_messages
FROM pg_logical_slot_peek_binary_changes('types', :'end_lsn', NULL,
                                         'skip-empty-xacts', '1') WITH ORDINALITY c(lsn, xid, data, n)
JOIN msgs USING (n);
SELECT current_setting('DateStyle') AS datestyle,
       current_setting('IntervalStyle') AS intervalstyle,
       current_setting('extra_float_digits') AS extra_float_digits,
       current_setting('bytea_output') AS bytea_output;
RESET DateStyle;
RESET IntervalStyle;
RESET extra_float_digits;
RESET bytea_output;
-- and a SET LOCAL of the caller still ends with its transaction (it once
-- outlived it)
BEGIN;
SET LOCAL DateStyle = 'SQL, DMY';
SELECT count(*) AS messages
FROM pg_logical_slot_peek_binary_changes('types', :'end_lsn', NULL, 'skip-empty-xacts', '1');
SHOW DateStyle;
COMMIT;
SHOW DateStyle;
CREATE TEMP TABLE msgs_text AS
SELECT n, data::json AS j
FROM pg_logical_slot_get_changes('types', :'end_lsn', NULL,
                                 'skip-empty-xacts', '1', 'debug-mode', '1') WITH ORDINALITY c(lsn, xid, data, n);
-- debug-mode shows exactly what the binary message holds
SELECT count(*) AS messages,
       bool_and(m = (j::jsonb - 'commit_time' - 'transaction_id')) AS debug_same_as_binary
FROM msgs JOIN msgs_text USING (n);

-- The inserted values: (message number, table, id, the datum of v, its
-- TypeInfo, and the JSON text of the datum, where -0 keeps its sign).
CREATE TEMP VIEW vals AS
SELECT n, (m->>'table')::regclass AS tab,
       (m->'new_tuple'->0->>'datum_int32')::int AS id,
       m->'new_tuple'->1 AS d, m->'new_typeinfo'->1 AS ti,
       j->'new_tuple'->1 AS dj
FROM msgs JOIN msgs_text USING (n)
WHERE m->>'op' = 'INSERT';

-- microseconds since 1970 back to a timestamp, without float arithmetic
CREATE FUNCTION usecs_to_timestamp(n bigint) RETURNS timestamp LANGUAGE sql AS $$
    SELECT CASE n
        WHEN 9223372036854775807 THEN 'infinity'::timestamp
        WHEN -9223372036854775808 THEN '-infinity'::timestamp
        ELSE timestamp '1970-01-01' + (n / 86400000000) * interval '1 day'
                                    + (n % 86400000000) * interval '1 microsecond'
    END
$$;
-- microseconds since midnight back to a time (24:00:00 included)
CREATE FUNCTION usecs_to_time(n bigint) RETURNS time LANGUAGE sql AS $$
    SELECT make_time((n / 3600000000)::int, (n / 60000000 % 60)::int,
                     (n % 60000000 / 1000000.0)::float8)
$$;

-- The text a consumer feeds to the column type's input function, rebuilt
-- from the datum: text fields as they are, numbers converted back in SQL.
-- d is the binary message's datum, dj the same datum as JSON text.
CREATE FUNCTION rebuilt(d jsonb, dj json) RETURNS text LANGUAGE sql
SET DateStyle = 'ISO, YMD' AS $$
    SELECT CASE
        WHEN d ? 'datum_string' THEN d->>'datum_string'
        WHEN d ? 'datum_bytes' THEN d->>'datum_bytes'
        WHEN d ? 'datum_bool' THEN d->>'datum_bool'
        WHEN d ? 'datum_float' THEN dj->>'datum_float'
        WHEN d ? 'datum_double' AND typ <> 'timetz'::regtype THEN dj->>'datum_double'
        WHEN d ? 'datum_point' THEN
            point((dj->'datum_point'->>'x')::float8, (dj->'datum_point'->>'y')::float8)::text
        WHEN typ = 'date'::regtype THEN (date '1970-01-01' + (d->>'datum_int32')::int)::text
        WHEN d ? 'datum_int32' THEN d->>'datum_int32'
        WHEN typ = 'timestamp'::regtype THEN usecs_to_timestamp(i64)::text
        WHEN typ = 'timestamptz'::regtype THEN (usecs_to_timestamp(i64) AT TIME ZONE 'UTC')::text
        WHEN typ = 'time'::regtype THEN usecs_to_time(i64)::text
        WHEN typ = 'money'::regtype THEN ((i64 * 0.01)::money)::text
        WHEN d ? 'datum_int64' THEN d->>'datum_int64'
    END
    FROM (SELECT (d->>'column_type')::regtype AS typ,
                 (d->>'datum_int64')::bigint AS i64) s
$$;

-- Does the rebuilt text give back the value of v in row id of tab?
-- same_text: the re-read value prints exactly as the original with the
-- type's output function, or both are NULL (catches scale, -0, padding);
-- same_value: the type's equality (NULL for the types that have none:
-- json, xml, point, polygon, mytext).
CREATE FUNCTION check_value(tab regclass, id int, t text,
                            OUT same_text bool, OUT same_value bool)
LANGUAGE plpgsql AS $$
DECLARE
    typ text;
BEGIN
    SELECT format_type(atttypid, atttypmod) INTO typ
    FROM pg_attribute WHERE attrelid = tab AND attname = 'v';
    EXECUTE format('SELECT format(''%%L'', $1::%s) = format(''%%L'', v) FROM %s WHERE id = $2',
                   typ, tab) INTO same_text USING t, id;
    BEGIN
        EXECUTE format('SELECT $1::%s IS NOT DISTINCT FROM v FROM %s WHERE id = $2',
                       typ, tab) INTO same_value USING t, id;
    EXCEPTION WHEN undefined_function THEN
        same_value := NULL;
    END;
END
$$;

-- Values longer than a line are shown by their start and length.
CREATE FUNCTION shown(s text) RETURNS text LANGUAGE sql AS $$
    SELECT CASE WHEN length(s) <= 70 THEN s
                ELSE left(s, 40) || '...(' || length(s) || ' chars)' END
$$;

-- Every value as sent (floats below: jsonb turns -0 into 0).
SELECT tab, id, shown(datum_text(d)) AS sent FROM vals
WHERE tab NOT IN ('t_float4'::regclass, 't_float8'::regclass)
ORDER BY n;

-- Per type: the field it is sent in, the column_type and TypeInfo sent
-- against the catalog, and whether every value round-trips.
SELECT v.tab,
       format_type(a.atttypid, a.atttypmod) AS type,
       string_agg(DISTINCT substr(k, 7), ',') AS sent_as,
       count(*) AS n,
       bool_and((d->>'column_type')::oid = a.atttypid) AS type_oid_ok,
       bool_and(ti->>'modifier' = format_type(a.atttypid, a.atttypmod)
                AND (ti->>'value_optional')::bool = NOT a.attnotnull) AS typeinfo_ok,
       bool_and(c.same_text) AS same_text,
       bool_and(c.same_value) AS same_value
FROM vals v
JOIN pg_attribute a ON a.attrelid = v.tab AND a.attname = 'v'
LEFT JOIN LATERAL (SELECT k FROM jsonb_object_keys(d) k WHERE k LIKE 'datum%') k ON true
CROSS JOIN LATERAL check_value(v.tab, v.id, rebuilt(d, dj)) c
WHERE v.tab <> 't_timetz'::regclass
GROUP BY v.tab, a.atttypid, a.atttypmod
ORDER BY min(n);

-- Floats keep their sign, NaN and infinities (the JSON text keeps -0,
-- which jsonb cannot hold).
SELECT tab, id, dj->>'datum_float' AS sent_float, dj->>'datum_double' AS sent_double,
       c.same_text
FROM vals, LATERAL check_value(tab, id, rebuilt(d, dj)) c
WHERE tab IN ('t_float4'::regclass, 't_float8'::regclass)
ORDER BY n;

-- Timestamps: microseconds since 1970, +-infinity as the int64 extremes;
-- the values past int64's maximum after the shift come as text.
SELECT tab, id, d->'datum_int64' AS usecs, d->>'datum_string' AS text,
       rebuilt(d, dj) AS rebuilt
FROM vals WHERE tab IN ('t_timestamp'::regclass, 't_timestamptz'::regclass)
ORDER BY n;

-- Dates: days since 1970; +-infinity as text (an integer would overflow).
SELECT t.id, t.v, d->'datum_int32' AS days, d->>'datum_string' AS text,
       CASE WHEN isfinite(t.v) THEN (d->>'datum_int32')::int = t.v - date '1970-01-01'
            ELSE d->>'datum_string' = t.v::text END AS days_ok
FROM vals JOIN t_date t USING (id) WHERE tab = 't_date'::regclass ORDER BY n;

-- timetz: Debezium's UTC-equivalent microseconds as a double; the zone is
-- lost (plugin_extras shows exact-values, which sends it).
SELECT t.id, t.v, d->'datum_double' AS utc_usecs,
       (d->>'datum_double')::numeric = extract(epoch FROM t.v) * 1000000 AS utc_usecs_ok
FROM vals JOIN t_timetz t USING (id) WHERE tab = 't_timetz'::regclass ORDER BY n;

-- NULL, empty and unchanged TOAST are three different things on the wire:
-- no datum, an empty datum_string, and datum_missing.
CREATE TABLE t_toast (id int PRIMARY KEY, v text, n int);
ALTER TABLE t_toast ALTER COLUMN v SET STORAGE EXTERNAL;
INSERT INTO t_toast VALUES (1, NULL, 0), (2, '', 0),
    (3, repeat('toasted ', 1000), 0);
UPDATE t_toast SET n = 1;
SELECT m->>'op' AS op, m->'new_tuple'->0->'datum_int32' AS id,
       shown((m->'new_tuple'->1)::text) AS v_datum
FROM changes('types', 'skip-empty-xacts', '1') m WHERE m ? 'new_tuple';

SELECT pg_drop_replication_slot('types');
DROP TABLE t_int2, t_int4, t_int8, t_oid, t_float4, t_float8, t_numeric,
    t_numeric_typmod, t_numeric_scale, t_bool, t_char, t_bpchar, t_varchar,
    t_text, t_name, t_bytea, t_date, t_time, t_timetz, t_timestamp,
    t_timestamp3, t_timestamptz, t_interval, t_uuid, t_json, t_jsonb, t_xml,
    t_inet, t_cidr, t_macaddr, t_macaddr8, t_bit, t_varbit, t_money, t_point,
    t_line, t_lseg, t_box, t_path, t_polygon, t_circle, t_tsvector, t_tsquery,
    t_pg_lsn, t_int4_array, t_text_array, t_float8_array, t_timestamp_array,
    t_bytea_array, t_enum, t_enum_array, t_posint, t_short_text, t_composite,
    t_int4range, t_numrange, t_tstzrange, t_daterange, t_int4multirange,
    t_datemultirange, t_mytext, t_toast;
DROP TYPE outer_t, inner_t, mood, mytext CASCADE;
DROP DOMAIN posint, short_text;
DROP FUNCTION usecs_to_timestamp(bigint), usecs_to_time(bigint),
    rebuilt(jsonb, json), check_value(regclass, int, text), shown(text);
