-- People and groups provisioned through SCIM (DESIGN 7.5). `resource` is the SCIM resource as stored (JSON text,
-- without `id` and `meta`); the other columns are what lookups and uniqueness need. Every replica renders these
-- rows into the directory it runs on (`src/people`), so a change made on one is seen on all.
CREATE TABLE scim_users (
    id          TEXT PRIMARY KEY,
    -- lower(userName): SCIM's userName is unique without regard to case (RFC 7643 4.1.1).
    user_key    TEXT NOT NULL UNIQUE,
    external_id TEXT,
    resource    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX scim_users_external ON scim_users (external_id);

CREATE TABLE scim_groups (
    id          TEXT PRIMARY KEY,
    -- The group's directory id (its externalId, else its displayName): unique, as directory ids are.
    group_key   TEXT NOT NULL UNIQUE,
    display_key TEXT NOT NULL,
    external_id TEXT,
    resource    TEXT NOT NULL,
    version     BIGINT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL
);
CREATE INDEX scim_groups_display ON scim_groups (display_key);
CREATE INDEX scim_groups_external ON scim_groups (external_id);

-- Bumped by every SCIM write in the same transaction: replicas poll this one row to learn that the people changed.
CREATE TABLE people_revision (
    id       INTEGER PRIMARY KEY,
    revision BIGINT NOT NULL
);
INSERT INTO people_revision (id, revision) VALUES (1, 0);
