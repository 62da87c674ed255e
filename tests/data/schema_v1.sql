-- A database written by schema version 1 (the first). Never regenerate: it stands for
-- databases in the field. tests/test_store.py migrates it to the newest schema.
BEGIN TRANSACTION;
CREATE TABLE aliases (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL UNIQUE
    );
INSERT INTO "aliases" VALUES('gtx','GeForce GTX 1070');
CREATE TABLE groups (
        id TEXT PRIMARY KEY,
        title TEXT,
        created_at TEXT NOT NULL
    );
INSERT INTO "groups" VALUES('lab','The Lab','2026-01-03T00:00:00+00:00');
CREATE TABLE memberships (
        user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
        group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
        PRIMARY KEY (user_id, group_id)
    );
INSERT INTO "memberships" VALUES('alice','lab');
CREATE TABLE users (
        id TEXT PRIMARY KEY,
        password TEXT NOT NULL,
        admin INTEGER NOT NULL DEFAULT 0,
        fullname TEXT,
        email TEXT,
        created_at TEXT NOT NULL
    );
INSERT INTO "users" VALUES('root','$2b$04$1W5ZYI77.aZTfWtk5YjI1OBK4cmW9MZ7otuXfkF2saVkzBLhrzIZq',1,'Root','root@example.org','2026-01-01T00:00:00+00:00');
INSERT INTO "users" VALUES('alice','$2b$04$1W5ZYI77.aZTfWtk5YjI1OBK4cmW9MZ7otuXfkF2saVkzBLhrzIZq',0,'Alice',NULL,'2026-01-02T00:00:00+00:00');
COMMIT;
PRAGMA user_version = 1;
