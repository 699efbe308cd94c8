"""Ordered schema migrations. Entry N takes the schema from version N to N+1.

Never edit a migration that has shipped: add a new one. Each is an SQL script run in its own
transaction, with ``user_version`` bumped in that same transaction (see ``database.migrate``).
"""

from __future__ import annotations

V1_DRAFTS = (
    # platforms is a bit set (x=1, instagram=2, tiktok=4) so "drafts for X" is one indexed AND.
    # tags is the JSON array as the user sees it; draft_tags and drafts_fts are indexes over it
    # that the triggers below keep in step, so nothing outside SQLite maintains derived data.
    """
        CREATE TABLE drafts (
            id INTEGER PRIMARY KEY,
            uid TEXT NOT NULL UNIQUE,
            body TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(tags)),
            platforms INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'draft',
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            deleted_at TEXT
        );
        CREATE INDEX drafts_updated ON drafts (updated_at DESC, id DESC) WHERE deleted_at IS NULL;
        CREATE INDEX drafts_created ON drafts (created_at DESC, id DESC) WHERE deleted_at IS NULL;
        CREATE INDEX drafts_deleted ON drafts (deleted_at) WHERE deleted_at IS NOT NULL;

        CREATE TABLE draft_tags (
            tag TEXT NOT NULL,
            draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
            PRIMARY KEY (tag, draft_id)
        ) WITHOUT ROWID;
        CREATE INDEX draft_tags_draft ON draft_tags (draft_id);

        CREATE VIRTUAL TABLE drafts_fts USING fts5(
            body, tags, content='drafts', content_rowid='id',
            tokenize='unicode61 remove_diacritics 2'
        );

        CREATE TRIGGER drafts_ai AFTER INSERT ON drafts BEGIN
            INSERT INTO drafts_fts (rowid, body, tags) VALUES (new.id, new.body, new.tags);
            INSERT INTO draft_tags (tag, draft_id) SELECT value, new.id FROM json_each(new.tags);
        END;
        CREATE TRIGGER drafts_ad AFTER DELETE ON drafts BEGIN
            INSERT INTO drafts_fts (drafts_fts, rowid, body, tags)
                VALUES ('delete', old.id, old.body, old.tags);
        END;
        CREATE TRIGGER drafts_au_text AFTER UPDATE OF body, tags ON drafts BEGIN
            INSERT INTO drafts_fts (drafts_fts, rowid, body, tags)
                VALUES ('delete', old.id, old.body, old.tags);
            INSERT INTO drafts_fts (rowid, body, tags) VALUES (new.id, new.body, new.tags);
        END;
        CREATE TRIGGER drafts_au_tags AFTER UPDATE OF tags ON drafts
        WHEN old.tags IS NOT new.tags BEGIN
            DELETE FROM draft_tags WHERE draft_id = old.id;
            INSERT INTO draft_tags (tag, draft_id) SELECT value, new.id FROM json_each(new.tags);
        END;
    """
)

V2_GENERATION = """
    -- One row per AI run: what it cost and how it ended (the usage and cost ledger).
    CREATE TABLE ai_runs (
        id INTEGER PRIMARY KEY,
        created_at TEXT NOT NULL,
        provider TEXT NOT NULL,
        model TEXT NOT NULL,
        kind TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('complete', 'partial', 'cancelled', 'failed')),
        tokens_in INTEGER NOT NULL DEFAULT 0,
        tokens_out INTEGER NOT NULL DEFAULT 0,
        images INTEGER NOT NULL DEFAULT 0,
        units REAL NOT NULL DEFAULT 0,
        cost_usd REAL NOT NULL DEFAULT 0,
        priced INTEGER NOT NULL DEFAULT 1,
        estimated INTEGER NOT NULL DEFAULT 0,
        draft_id INTEGER REFERENCES drafts(id) ON DELETE SET NULL,
        error TEXT
    );
    CREATE INDEX ai_runs_created ON ai_runs (created_at);

    -- Media, content-addressed: the file lives in the data dir under media/<sha256>.<ext>.
    CREATE TABLE assets (
        id INTEGER PRIMARY KEY,
        sha256 TEXT NOT NULL UNIQUE,
        kind TEXT NOT NULL,
        mime TEXT NOT NULL,
        ext TEXT NOT NULL,
        bytes INTEGER NOT NULL,
        width INTEGER,
        height INTEGER,
        original_name TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        prompt TEXT,
        ai_run_id INTEGER REFERENCES ai_runs(id) ON DELETE SET NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE draft_assets (
        draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
        asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
        position INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (draft_id, asset_id)
    );
    CREATE INDEX draft_assets_asset ON draft_assets (asset_id);

    -- The creator's own edits of the prompt templates (defaults live in core.generation).
    CREATE TABLE prompt_templates (
        kind TEXT PRIMARY KEY,
        system TEXT NOT NULL,
        user TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
"""

V3_EMBEDDINGS = """
    -- One embedding per draft and model, for "similar drafts" and duplicate warnings;
    -- body_sha says which text it was made from, so an edit makes it stale.
    CREATE TABLE draft_embeddings (
        draft_id INTEGER NOT NULL REFERENCES drafts(id) ON DELETE CASCADE,
        model TEXT NOT NULL,
        body_sha TEXT NOT NULL,
        vector BLOB NOT NULL,
        PRIMARY KEY (draft_id, model)
    );
"""

V4_SYNC = """
    -- A video's length in seconds, read when it is added (NULL for images and when unknown).
    ALTER TABLE assets ADD COLUMN duration_s REAL;

    -- The upload outbox: one row per asset to back up to R2. 'multipart' holds the resumable
    -- state of an unfinished multipart upload (upload id, part size, part ETags) so that a
    -- restart goes on at the next missing part; it is cleared when the upload ends.
    CREATE TABLE uploads (
        asset_id INTEGER PRIMARY KEY REFERENCES assets(id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        state TEXT NOT NULL
            CHECK (state IN ('pending', 'paused', 'done', 'failed', 'cancelled')),
        bytes_total INTEGER NOT NULL,
        bytes_done INTEGER NOT NULL DEFAULT 0,
        multipart TEXT,
        attempts INTEGER NOT NULL DEFAULT 0,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX uploads_state ON uploads (state);

    -- Draft sync: each draft as it was when this profile and the bucket last agreed (the base of
    -- a three-way merge), with the ETag the bucket had for it then.
    CREATE TABLE sync_drafts (
        uid TEXT PRIMARY KEY,
        etag TEXT NOT NULL,
        base TEXT NOT NULL CHECK (json_valid(base)),
        synced_at TEXT NOT NULL
    );
"""

V5_ACCOUNTS = """
    -- Who is signed in (role 'sign_in': Google, GitHub) and the accounts posts go to (role
    -- 'publish': X, Instagram, TikTok). Ids, handles and status only: every token lives in the
    -- OS keyring (refresh and long-lived tokens) or in memory (access tokens), never here.
    CREATE TABLE accounts (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('sign_in', 'publish')),
        account_id TEXT NOT NULL,
        handle TEXT NOT NULL DEFAULT '',
        display_name TEXT NOT NULL DEFAULT '',
        avatar_url TEXT NOT NULL DEFAULT '',
        email TEXT NOT NULL DEFAULT '',
        scopes TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'ok' CHECK (status IN ('ok', 'needs_reconnect')),
        expires_at TEXT,
        connected_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (provider, account_id)
    );
"""

V6_PUBLISHING = """
    -- A scheduled post: a frozen copy of a draft's text and media going out at one moment.
    -- scheduled_at is the UTC instant; time_zone and local_time are what the creator chose, so
    -- the instant can be worked out again if the zone's rules change (09:00 stays 09:00 local).
    CREATE TABLE posts (
        id INTEGER PRIMARY KEY,
        draft_id INTEGER REFERENCES drafts(id) ON DELETE SET NULL,
        body TEXT NOT NULL,
        media TEXT NOT NULL DEFAULT '[]' CHECK (json_valid(media)),
        scheduled_at TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        local_time TEXT NOT NULL,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        cancelled_at TEXT
    );
    CREATE INDEX posts_scheduled ON posts (scheduled_at);

    -- The publishing outbox: one row per post per target account. It is written in the same
    -- transaction as the post. 'progress' holds the provider-side ids made so far (uploaded media,
    -- containers, publish ids, thread parts), committed before the next step, so a crash never
    -- makes anything twice; 'lease_owner'/'lease_until' say which process is sending it.
    CREATE TABLE post_targets (
        id INTEGER PRIMARY KEY,
        uid TEXT NOT NULL UNIQUE,
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        provider TEXT NOT NULL,
        account_id TEXT NOT NULL,
        post_type TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN
            ('pending', 'in_flight', 'published', 'failed', 'needs_attention', 'cancelled')),
        due_at TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        lease_owner TEXT,
        lease_until TEXT,
        check_first INTEGER NOT NULL DEFAULT 0,
        progress TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(progress)),
        attempt_started_at TEXT,
        platform_post_id TEXT,
        url TEXT,
        last_error TEXT,
        late INTEGER NOT NULL DEFAULT 0,
        published_at TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX post_targets_due ON post_targets (state, due_at);
    CREATE INDEX post_targets_post ON post_targets (post_id);

    -- Every change of a target's state, with when and why (the UI shows this history).
    CREATE TABLE post_events (
        id INTEGER PRIMARY KEY,
        target_id INTEGER NOT NULL REFERENCES post_targets(id) ON DELETE CASCADE,
        at TEXT NOT NULL,
        from_state TEXT,
        to_state TEXT NOT NULL,
        reason TEXT NOT NULL
    );
    CREATE INDEX post_events_target ON post_events (target_id, id);

    -- Recurring posting slots per account ("post in the next free slot").
    CREATE TABLE time_slots (
        id INTEGER PRIMARY KEY,
        provider TEXT NOT NULL,
        account_id TEXT NOT NULL,
        weekday INTEGER NOT NULL CHECK (weekday BETWEEN 0 AND 6),
        local_time TEXT NOT NULL,
        time_zone TEXT NOT NULL,
        UNIQUE (provider, account_id, weekday, local_time)
    );
"""

V7_NOTIFICATIONS = """
    -- The notifications outbox: one row per e-mail (Resend) or SMS (Twilio) to the creator.
    -- 'key' is made once when the row is written and is the e-mail's Idempotency-Key, so a
    -- retry after a crash or a lost answer never sends a second e-mail (Resend keeps keys 24 h).
    -- Twilio takes no key: an SMS row goes to 'unknown' before it is sent and is never sent
    -- again once it may have reached Twilio. 'maybe_sent' records that an attempt may have
    -- reached the provider; 'provider_id' is Resend's e-mail id or Twilio's message SID.
    -- Addresses and texts only: no key or token is ever stored here.
    CREATE TABLE notifications (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL UNIQUE,
        channel TEXT NOT NULL CHECK (channel IN ('email', 'sms')),
        kind TEXT NOT NULL,
        target_id INTEGER REFERENCES post_targets(id) ON DELETE SET NULL,
        recipient TEXT NOT NULL,
        subject TEXT NOT NULL DEFAULT '',
        body TEXT NOT NULL,
        html TEXT,
        state TEXT NOT NULL DEFAULT 'pending'
            CHECK (state IN ('pending', 'sent', 'failed', 'unknown')),
        attempts INTEGER NOT NULL DEFAULT 0,
        maybe_sent INTEGER NOT NULL DEFAULT 0,
        next_attempt_at TEXT,
        provider_id TEXT,
        last_error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        sent_at TEXT
    );
    CREATE INDEX notifications_due ON notifications (state, next_attempt_at);
    CREATE INDEX notifications_target ON notifications (target_id);
"""

V8_ANALYTICS = """
    -- Metrics collection, outbox style: one job per published target, written by the trigger
    -- below in the same transaction that marks the target published, so no post is ever missed.
    -- 'active' jobs run when next_due_at passes (densely just after publishing, sparsely later);
    -- 'deleted' (gone from the platform: metrics stop), 'unavailable' (no insights permission,
    -- with the reason in last_error) and 'done' (old enough to stop) jobs do not run.
    CREATE TABLE metric_jobs (
        target_id INTEGER PRIMARY KEY REFERENCES post_targets(id) ON DELETE CASCADE,
        state TEXT NOT NULL DEFAULT 'active'
            CHECK (state IN ('active', 'deleted', 'unavailable', 'done')),
        next_due_at TEXT,
        collections INTEGER NOT NULL DEFAULT 0,
        failures INTEGER NOT NULL DEFAULT 0,
        last_collected_at TEXT,
        last_error TEXT,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX metric_jobs_due ON metric_jobs (state, next_due_at);

    CREATE TRIGGER metric_jobs_on_publish AFTER UPDATE OF state ON post_targets
    WHEN new.state = 'published' AND old.state IS NOT 'published' BEGIN
        INSERT OR IGNORE INTO metric_jobs (target_id, next_due_at, updated_at)
            VALUES (new.id, coalesce(new.published_at, new.updated_at), new.updated_at);
    END;
    INSERT INTO metric_jobs (target_id, next_due_at, updated_at)
        SELECT id, coalesce(published_at, updated_at), updated_at FROM post_targets
        WHERE state = 'published';
    CREATE INDEX post_targets_published ON post_targets (published_at) WHERE state = 'published';

    -- Per-post time series, one row per metric per collection. 'at' is epoch seconds (UTC) of
    -- the collection by this computer's clock: charts read 100,000 of these at a time, and a
    -- number is the cheapest thing to read and plot. A metric the platform did not give is
    -- absent, never a zero.
    CREATE TABLE metric_samples (
        target_id INTEGER NOT NULL REFERENCES post_targets(id) ON DELETE CASCADE,
        metric TEXT NOT NULL,
        at REAL NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (target_id, metric, at)
    ) WITHOUT ROWID;
    CREATE INDEX metric_samples_at ON metric_samples (at);

    -- Per-account figures (followers, reach…), as above.
    CREATE TABLE account_samples (
        provider TEXT NOT NULL,
        account_id TEXT NOT NULL,
        metric TEXT NOT NULL,
        at REAL NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (provider, account_id, metric, at)
    ) WITHOUT ROWID;

    -- Trending topics as last fetched, per platform and place.
    CREATE TABLE trends (
        provider TEXT NOT NULL,
        location TEXT NOT NULL,
        fetched_at TEXT NOT NULL,
        items TEXT NOT NULL CHECK (json_valid(items)),
        PRIMARY KEY (provider, location)
    );

    -- Integration health, one row per provider per UTC day, added to as the session goes.
    CREATE TABLE provider_health_days (
        day TEXT NOT NULL,
        provider TEXT NOT NULL,
        calls INTEGER NOT NULL DEFAULT 0,
        errors INTEGER NOT NULL DEFAULT 0,
        unavailable INTEGER NOT NULL DEFAULT 0,
        retries INTEGER NOT NULL DEFAULT 0,
        p50_ms REAL,
        p95_ms REAL,
        p99_ms REAL,
        rate_limit_use_max REAL,
        breaker TEXT,
        last_error TEXT,
        last_error_at TEXT,
        PRIMARY KEY (day, provider)
    );

    -- GA4 events waiting to be sent (only ever written when the creator opted in). Sending is
    -- not idempotent: a row goes to 'sending' before its request and is never sent again after,
    -- so a crash can lose an event but never double one.
    CREATE TABLE ga4_events (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
        created_at TEXT NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued'
            CHECK (state IN ('queued', 'sending', 'sent', 'dropped')),
        sent_at TEXT,
        last_error TEXT
    );
    CREATE INDEX ga4_events_state ON ga4_events (state, id);

    -- Campaigns: posts grouped to be judged together.
    CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        starts_on TEXT NOT NULL,
        ends_on TEXT NOT NULL,
        budget_usd REAL CHECK (budget_usd IS NULL OR budget_usd >= 0),
        goal TEXT NOT NULL DEFAULT '',
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        CHECK (ends_on >= starts_on)
    );
    CREATE TABLE campaign_posts (
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id) ON DELETE CASCADE,
        post_id INTEGER NOT NULL REFERENCES posts(id) ON DELETE CASCADE,
        PRIMARY KEY (campaign_id, post_id)
    ) WITHOUT ROWID;
    CREATE INDEX campaign_posts_post ON campaign_posts (post_id);
"""

V9_BILLING = """
    -- The Stripe customer this profile bills to, one per signed-in app user. The row is written
    -- (with the idempotency key of its create) before Stripe is asked, so a crash between
    -- Stripe's answer and this write repeats the same create and gets the same customer back.
    CREATE TABLE billing_customers (
        app_user_id TEXT PRIMARY KEY,
        email TEXT NOT NULL DEFAULT '',
        name TEXT NOT NULL DEFAULT '',
        create_key TEXT NOT NULL UNIQUE,
        customer_id TEXT UNIQUE,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );

    -- Every write to Stripe, written with its idempotency key before it is sent. 'pending' until
    -- Stripe's answer is stored; a pending row is resent with the same key (Stripe replays the
    -- first answer for 24 h), never with a new one. 'failed' rows keep Stripe's reason.
    CREATE TABLE billing_ops (
        id INTEGER PRIMARY KEY,
        kind TEXT NOT NULL,
        params TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(params)),
        idempotency_key TEXT NOT NULL UNIQUE,
        state TEXT NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'done', 'failed')),
        result_id TEXT,
        error TEXT,
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE INDEX billing_ops_state ON billing_ops (state, id);

    -- Usage for Stripe's billing meters, one row per AI run that counts, written by the trigger
    -- below in the same transaction as the run itself. 'identifier' is made once here and sent
    -- with every attempt: Stripe counts an identifier once, so a retry is never billed twice.
    CREATE TABLE meter_outbox (
        id INTEGER PRIMARY KEY,
        ai_run_id INTEGER UNIQUE REFERENCES ai_runs(id) ON DELETE SET NULL,
        event_name TEXT NOT NULL,
        value INTEGER NOT NULL CHECK (value > 0),
        identifier TEXT NOT NULL UNIQUE,
        occurred_at INTEGER NOT NULL,
        state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'sent', 'rejected')),
        attempts INTEGER NOT NULL DEFAULT 0,
        customer_id TEXT,
        last_error TEXT,
        sent_at TEXT
    );
    CREATE INDEX meter_outbox_state ON meter_outbox (state, id);
    CREATE TRIGGER meter_outbox_on_run AFTER INSERT ON ai_runs
    WHEN NEW.status IN ('complete', 'partial') AND NEW.kind <> 'embedding'
    BEGIN
        INSERT INTO meter_outbox (ai_run_id, event_name, value, identifier, occurred_at)
        VALUES (NEW.id,
                CASE NEW.kind WHEN 'image' THEN 'ai_image' ELSE 'ai_generation' END,
                CASE NEW.kind WHEN 'image' THEN max(NEW.images, 1) ELSE 1 END,
                'mbv-' || lower(hex(randomblob(12))),
                CAST(strftime('%s', 'now') AS INTEGER));
    END;

    -- Stripe events already applied (polled or forwarded to the local receiver). The insert
    -- here and the event's effect commit together, so a duplicate delivery changes nothing.
    CREATE TABLE stripe_events_applied (
        event_id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        created INTEGER NOT NULL,
        source TEXT NOT NULL CHECK (source IN ('poll', 'webhook', 'app')),
        applied_at TEXT NOT NULL
    ) WITHOUT ROWID;

    -- The newest version of each Stripe object the app has seen (subscriptions, invoices,
    -- payment methods, the customer), kept for offline display. 'version' is the Stripe time
    -- of the event or answer it came from: an older event never overwrites a newer state.
    CREATE TABLE stripe_objects (
        id TEXT PRIMARY KEY,
        type TEXT NOT NULL,
        customer_id TEXT,
        body TEXT NOT NULL CHECK (json_valid(body)),
        version INTEGER NOT NULL,
        fetched_at TEXT NOT NULL
    );
    CREATE INDEX stripe_objects_customer ON stripe_objects (customer_id, type);

    -- Small named facts about billing: the events cursor, the plan catalogue and the cached
    -- status as last fetched (with when), so the panel has something to show offline.
    CREATE TABLE billing_state (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL CHECK (json_valid(value)),
        fetched_at TEXT NOT NULL
    );
"""

MIGRATIONS: list[str] = [
    V1_DRAFTS,
    V2_GENERATION,
    V3_EMBEDDINGS,
    V4_SYNC,
    V5_ACCOUNTS,
    V6_PUBLISHING,
    V7_NOTIFICATIONS,
    V8_ANALYTICS,
    V9_BILLING,
]
