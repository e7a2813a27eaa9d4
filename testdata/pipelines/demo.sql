-- The pipeline `sluice demo` runs: web-shop orders (JSON, the shape of
-- ingest/eventgen and testdata/events/orders.jsonl) from Kafka into a Delta
-- table of paid orders, shared with one recipient. A text/template with the
-- fields Brokers (the Kafka bootstrap address) and Topic (the orders topic).
CREATE DATABASE shop;
CREATE SCHEMA shop.sales;

CREATE STORE demo_kafka WITH (
  'type' = 'kafka',
  'bootstrap.servers' = '{{.Brokers}}'
);

CREATE STREAM shop.sales.orders (
  order_id BIGINT NOT NULL,
  customer STRING,
  country  STRING,
  channel  STRING,
  status   STRING,
  items    INT,
  amount   DOUBLE,
  currency STRING,
  ts       TIMESTAMP NOT NULL
) WITH (
  'store' = 'demo_kafka',
  'topic' = '{{.Topic}}',
  'value.format' = 'json',
  'timestamp' = ts,
  'starting.position' = 'earliest'
);

-- Paid orders only, with computed columns; a new Delta commit every 2 s.
CREATE TABLE shop.sales.paid_orders
WITH ('partitioned.by' = 'country', 'flush.interval' = '2s')
AS SELECT order_id, customer, country, channel, items, amount, currency,
          ROUND(amount / items, 2) AS avg_item_price,
          CASE WHEN amount >= 200 THEN 'large' ELSE 'regular' END AS order_size,
          ts AS ordered_at,
          kafka_partition, kafka_offset
FROM shop.sales.orders
WHERE status = 'paid' AND amount > 0;

CREATE SHARE partners;
ALTER SHARE partners ADD TABLE shop.sales.paid_orders AS sales.paid_orders WITH HISTORY;
CREATE RECIPIENT acme;
GRANT SELECT ON SHARE partners TO RECIPIENT acme;
