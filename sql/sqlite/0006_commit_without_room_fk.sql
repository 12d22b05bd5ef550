-- PostgreSQL drops the foreign key from messages to rooms in this version (see
-- sql/postgres/0006_commit_without_room_fk.sql). SQLite keeps it: its check is an in-process
-- index lookup, and dropping a constraint there means rebuilding the table. Nothing to do;
-- the file exists because both dialects have the same versions.
SELECT 1;
