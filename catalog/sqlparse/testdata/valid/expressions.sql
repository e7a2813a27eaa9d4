-- Literals.
CREATE TABLE t.e.literals AS SELECT 1, 2.5, .5, 1e3, 6.02E+23, 'it''s', TRUE, false, NULL,
  DATE '2024-05-01', TIMESTAMP '2024-05-01 12:30:00', TIMESTAMP '2024-05-01T12:30:00.123Z',
  INTERVAL '1' DAY, INTERVAL '90 minutes', INTERVAL '2' hours
  FROM t.e.src;
-- Arithmetic, precedence and parentheses.
CREATE TABLE t.e.arith AS SELECT a + b * c AS x1, (a + b) * c AS x2, a - (b - c) AS x3, (a - b) - c AS x4,
  -a * b AS x5, -(a * b) AS x6, - -a AS x7, a % 7 / 2 AS x8, +a AS x9, a - -1 AS x10
  FROM t.e.src;
-- Logic: OR < AND < NOT < comparison.
CREATE TABLE t.e.logic AS SELECT * FROM t.e.src
  WHERE a = 1 OR b = 2 AND NOT c <> 3 OR (d != 4 OR e < 5) AND f <= 6 AND g > 7 AND h >= 8;
CREATE TABLE t.e.notparen AS SELECT * FROM t.e.src WHERE NOT (a AND b) AND (NOT a) = b;
-- IS NULL, IN, BETWEEN, LIKE and their negations.
CREATE TABLE t.e.predicates AS SELECT * FROM t.e.src
  WHERE a IS NULL AND b IS NOT NULL AND c IN (1, 2, 3) AND d NOT IN ('x', 'y')
    AND e BETWEEN 1 AND 10 AND f NOT BETWEEN lo + 1 AND hi * 2 AND g LIKE 'ab%' AND h NOT LIKE '%_z';
-- CASE, CAST and function calls.
CREATE TABLE t.e.functions AS SELECT
  CASE WHEN amount > 100 THEN 'big' WHEN amount > 10 THEN 'medium' ELSE 'small' END AS size,
  CASE status WHEN 1 THEN 'new' WHEN 2 THEN 'paid' END AS status_name,
  CAST(amount AS DECIMAL(12,2)) AS amount_dec, CAST(ts AS date) AS day,
  CAST(payload AS STRUCT<a INT, b ARRAY<STRING>>) AS parsed,
  COALESCE(nickname, name, 'anonymous') AS display, upper(trim(name)) AS shout,
  JSON_VALUE(payload, '$.customer.id') AS customer_id, now() AS loaded_at, count(*) AS n,
  first_name || ' ' || last_name AS full_name, a || b + c AS concat_prec
  FROM t.e.src;
-- Struct fields, qualified columns and subscripts.
CREATE TABLE t.e.access AS SELECT src.address.zip, attrs['color'] AS color, tags[1] AS first_tag,
  lines[0].sku AS first_sku, get_struct(x).field AS f, (a).b AS paren_field, m['k']['j'] AS nested
  FROM t.e.src WHERE address.city = 'Paris' AND "Weird Col".x IS NOT NULL
