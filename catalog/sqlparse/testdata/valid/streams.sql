CREATE STREAM sales.orders.raw (
  order_id   BIGINT NOT NULL,
  qty        INT,
  small      SMALLINT,
  tiny       TINYINT,
  paid       BOOLEAN,
  ratio      FLOAT,
  ratio2     REAL,
  amount     DOUBLE,
  customer   STRING,
  note       VARCHAR,
  memo       TEXT,
  payload    BYTES,
  blob       BINARY,
  day        DATE,
  ts         TIMESTAMP NOT NULL,
  local_ts   TIMESTAMP_NTZ,
  price      DECIMAL(12, 2),
  tags       ARRAY<STRING>,
  attrs      MAP<STRING, INT>,
  address    STRUCT<street STRING, zip INT NOT NULL, geo STRUCT<lat DOUBLE, lon DOUBLE>>,
  "Order Lines" ARRAY<STRUCT<sku STRING, `unit price` DECIMAL(10,2)>>
) WITH (
  'store' = kafka_prod,
  'topic' = 'orders',
  'value.format' = 'json',
  'timestamp' = ts,
  'starting.position' = 'earliest'
);
-- Schema Registry formats need no column list.
CREATE STREAM IF NOT EXISTS sales.orders.clicks WITH ('store'='kafka_prod', 'topic'='clicks', 'value.format'='avro');
CREATE STREAM clicks_proto WITH ('topic'='clicks.pb', 'value.format'='PROTOBUF', 'starting.position'='2024-05-01T00:00:00Z');
CREATE STREAM s.raw_bytes (value BYTES) WITH ('topic'='raw', 'value.format'='raw');
DROP STREAM sales.orders.clicks;
DROP STREAM IF EXISTS clicks_proto
