CREATE TABLE sales.eu.t AS
SELECT ID AS Order_ID, Customer, "amount" AS "Total Amount" FROM sales.eu.orders;
