/* Block comments, line comments, mixed case and quoting. */
cReAtE dAtAbAsE /* inline */ lake -- trailing comment
;;
CREATE SCHEMA "lake"."Mixed Case";
CREATE SCHEMA `lake`.`tick``s`;
CREATE SCHEMA "lake"."quote""d";
-- reserved words are fine as names when quoted
CREATE STREAM lake.raw."select" ("from" STRING, "table" INT) WITH ('topic'='t');
CREATE TABLE lake.raw.t AS SELECT "from", 'multi
line string' AS s FROM lake.raw."select";
DROP DATABASE lake; DROP DATABASE lake2
