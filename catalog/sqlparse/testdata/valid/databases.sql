-- Databases and schemas.
CREATE DATABASE sales;
create database if not exists "Sales Archive";
DROP DATABASE sales;
DROP DATABASE IF EXISTS sales CASCADE;
CREATE SCHEMA sales.orders;
CREATE SCHEMA IF NOT EXISTS sales.`raw events`;
DROP SCHEMA IF EXISTS sales.orders CASCADE;
DROP SCHEMA sales.orders
