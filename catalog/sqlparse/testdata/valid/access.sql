CREATE USER alice;
ALTER USER alice ROTATE TOKEN;
DROP USER IF EXISTS alice;
CREATE ROLE analyst;
DROP ROLE analyst;
GRANT ROLE analyst TO USER alice;
GRANT ROLE analyst TO ROLE admin;
REVOKE ROLE analyst FROM USER alice;
REVOKE ROLE analyst FROM ROLE admin;
GRANT USAGE ON DATABASE sales TO ROLE analyst;
GRANT USAGE, CREATE ON SCHEMA sales.orders TO ROLE engineer;
GRANT SELECT ON TABLE sales.orders.paid TO ROLE analyst;
GRANT SELECT, INSERT ON STREAM sales.orders.raw TO ROLE ingest;
GRANT ALL PRIVILEGES ON SCHEMA sales.orders TO ROLE admin;
GRANT OWNERSHIP ON SHARE partners TO ROLE sharing_admin;
REVOKE ALL ON TABLE sales.orders.paid FROM ROLE analyst;
REVOKE usage ON DATABASE sales FROM ROLE analyst
