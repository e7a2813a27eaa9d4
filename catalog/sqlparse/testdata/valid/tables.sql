CREATE TABLE sales.orders.paid AS SELECT * FROM sales.orders.raw;
CREATE TABLE IF NOT EXISTS sales.orders.big
  WITH ('partition.by' = 'day', 'delta.appendOnly' = 'true')
  AS SELECT order_id, amount * 1.2 AS gross, customer c FROM sales.orders.raw WHERE amount > 1000;
CREATE TABLE sales.orders.all_cols AS SELECT r.*, amount FROM sales.orders.raw;
CREATE TABLE sales.ext.history LOCATION 's3://lake/sales/history';
CREATE TABLE sales.ext.local LOCATION 'file:///var/lib/sluice/local' WITH ('readonly' = TRUE);
CREATE TABLE sales.ext.plain LOCATION '/var/lib/sluice/plain';
-- table properties (upkeep settings)
ALTER TABLE sales.orders.paid SET TBLPROPERTIES ('delta.logRetentionDuration' = 'interval 7 days', 'sluice.compaction.minFiles' = 20);
ALTER TABLE paid SET TBLPROPERTIES ('sluice.upkeep' = true);
ALTER TABLE sales.orders.paid UNSET TBLPROPERTIES ('delta.logRetentionDuration');
ALTER TABLE sales.orders.paid UNSET TBLPROPERTIES IF EXISTS ('sluice.compaction.minFiles', 'sluice.upkeep');
DROP TABLE sales.orders.big;
DROP TABLE IF EXISTS sales.orders.paid PURGE
