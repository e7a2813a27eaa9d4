CREATE SHARE partners;
ALTER SHARE partners ADD TABLE sales.orders.paid;
ALTER SHARE partners ADD TABLE sales.orders.paid AS orders.paid WITH HISTORY;
ALTER SHARE partners ADD TABLE sales.orders.big WITH HISTORY;
ALTER SHARE partners ADD TABLE IF NOT EXISTS sales.orders.big AS orders.big;
ALTER SHARE partners REMOVE TABLE sales.orders.paid;
CREATE RECIPIENT acme;
CREATE RECIPIENT globex WITH ('token.ttl' = '30d');
ALTER RECIPIENT acme ROTATE TOKEN;
ALTER RECIPIENT acme ROTATE TOKEN WITH ('grace' = '1h');
ALTER RECIPIENT acme SET ('ip_allow' = '10.0.0.0/8,192.0.2.1/32', 'token.ttl' = '90d');
GRANT SELECT ON SHARE partners TO RECIPIENT acme;
REVOKE SELECT ON SHARE partners FROM RECIPIENT acme;
SHOW SHARES;
SHOW RECIPIENTS;
SHOW GRANTS ON SHARE partners;
DESCRIBE SHARE partners;
DROP RECIPIENT acme;
DROP SHARE partners
;
GRANT USAGE ON RECIPIENT acme TO ROLE sharing_admin;
GRANT OWNERSHIP ON RECIPIENT acme TO ROLE sharing_admin;
REVOKE usage ON recipient acme FROM ROLE sharing_admin
;
SHOW GRANTS ON RECIPIENT acme
;
CREATE RECIPIENT emea WITH PROPERTIES ('country' = 'DE', 'tier' = 'gold');
CREATE RECIPIENT IF NOT EXISTS apac WITH ('token.ttl' = '30d') WITH PROPERTIES ('country' = 'JP');
ALTER RECIPIENT emea SET PROPERTIES ('country' = 'FR');
ALTER RECIPIENT emea UNSET PROPERTIES ('country', 'tier');
ALTER SHARE partners ADD TABLE sales.orders.paid WHERE country = CURRENT_RECIPIENT('country');
ALTER SHARE partners ADD TABLE IF NOT EXISTS sales.orders.big AS orders.big WITH HISTORY
  WHERE region = 'eu' AND CURRENT_RECIPIENT('tier') = tier AND year = 2024
