import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely'

/**
 * Every migration, in order. Plain SQL that runs unchanged on Postgres 15+ and on PGlite
 * (Postgres 18 in WASM). Never edit one that has shipped: append a new one.
 */
export const migrations: Record<string, Migration> = {
  '0001_announces_and_node_identity': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        create table announces (
          id_hex text collate "C" primary key check (id_hex ~ '^[0-9a-f]{40}$'),
          seq bigint not null check (seq >= 0),
          timestamp bigint not null,
          announce jsonb not null,
          observed_host text not null,
          observed_port integer not null check (observed_port between 0 and 65535),
          expires_at bigint not null
        )`.execute(db)
      await sql`create index announces_expires_at_idx on announces (expires_at)`.execute(db)
      await sql`
        create table node_identity (
          id integer primary key check (id = 1),
          key_pair bytea not null,
          created_at bigint not null
        )`.execute(db)
    },
  },
  // Issue 3: the super-node's DHT node keeps mailboxes, signed records and its routing table.
  '0002_dht_mailboxes_records_contacts': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql`
        create table mailbox_envelopes (
          mailbox_key bytea not null,
          id bytea not null,
          data bytea not null,
          size integer not null check (size >= 0),
          source text not null,
          stored_at bigint not null,
          expires_at bigint not null,
          primary key (mailbox_key, id)
        )`.execute(db)
      await sql`create index mailbox_envelopes_expires_at_idx on mailbox_envelopes (expires_at)`.execute(
        db,
      )
      // Exact per-source counting when the running total refuses (see mailbox_put).
      await sql`
        create index mailbox_envelopes_source_idx on mailbox_envelopes (source, expires_at)
          include (size)`.execute(db)
      // put() in one round trip: lock the mailbox and the source (transaction-scoped,
      // always in this order: no deadlock), then check and insert. A VOLATILE PL/pgSQL
      // function takes a fresh snapshot per statement, so after the locks it sees every
      // envelope committed by earlier puts into this mailbox or from this source.
      await sql`
        create table mailbox_counters (
          mailbox_key bytea primary key,
          envelopes bigint not null,
          bytes bigint not null
        )`.execute(db)
      await sql`
        create table mailbox_source_bytes (
          source text primary key,
          bytes bigint not null
        )`.execute(db)
      await sql.raw(MAILBOX_PUT_FUNCTION).execute(db)
      await sql`
        create table mailbox_tombstones (
          mailbox_key bytea not null,
          id bytea not null,
          expires_at bigint not null,
          primary key (mailbox_key, id)
        )`.execute(db)
      await sql`create index mailbox_tombstones_expires_at_idx on mailbox_tombstones (expires_at)`.execute(
        db,
      )
      await sql`
        create table dht_records (
          key bytea primary key,
          seq bigint not null check (seq >= 0),
          signature bytea not null,
          record bytea not null
        )`.execute(db)
      await sql`
        create table dht_contacts (
          id bytea primary key,
          host text not null,
          port integer not null check (port between 1 and 65535),
          saved_at bigint not null
        )`.execute(db)
    },
  },
  // put() and delete() as procedures in two transactions each, so the running totals' row
  // locks are held for microseconds instead of across a commit's WAL flush (see below).
  '0003_mailbox_short_critical_sections': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql.raw(MAILBOX_STORE_ENVELOPE_PROCEDURE).execute(db)
      await sql.raw(MAILBOX_DELETE_ENVELOPES_PROCEDURE).execute(db)
    },
  },
  // put() coalesced: concurrent puts go out as one call of a batch procedure (one round trip,
  // one statement and two commits for many envelopes instead of for each).
  '0004_mailbox_store_envelopes_batch': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql.raw(MAILBOX_STORE_ENVELOPES_PROCEDURE).execute(db)
    },
  },
  // delete() coalesced the same way: one call of a batch procedure for many requests.
  '0005_mailbox_delete_envelopes_batch': {
    async up(db: Kysely<unknown>): Promise<void> {
      await sql.raw(MAILBOX_DELETE_BATCH_PROCEDURE).execute(db)
    },
  },
}

// Quotas are read from running totals (`mailbox_counters`, `mailbox_source_bytes`), which
// count every stored envelope, expired or not until expire() removes it: they are never
// below the live totals. So when they allow a put, the live totals do too; only when they
// refuse does the function count the live envelopes exactly (a full mailbox or source, or
// one holding expired envelopes). Every put costs O(1), however big the source's share.
const MAILBOX_PUT_FUNCTION = `
  create function mailbox_put(
    p_mailbox_key bytea, p_id bytea, p_data bytea, p_source text,
    p_stored_at bigint, p_expires_at bigint, p_now bigint,
    p_max_count bigint, p_max_bytes bigint, p_max_source_bytes bigint,
    p_mailbox_lock integer
  ) returns text language plpgsql volatile as $$
  declare
    sz integer := octet_length(p_data);
    n bigint;
    b bigint;
    old_source text;
    old_size integer;
  begin
    perform pg_advisory_xact_lock(1885405185, p_mailbox_lock);
    perform pg_advisory_xact_lock(1885405186, hashtext(p_source));
    if exists (select 1 from mailbox_tombstones where mailbox_key = p_mailbox_key
               and id = p_id and expires_at > p_now) then
      return 'deleted';
    end if;
    if exists (select 1 from mailbox_envelopes where mailbox_key = p_mailbox_key
               and id = p_id and expires_at > p_now) then
      return 'duplicate';
    end if;
    select envelopes, bytes into n, b from mailbox_counters where mailbox_key = p_mailbox_key;
    if coalesce(n, 0) + 1 > p_max_count or coalesce(b, 0) + sz > p_max_bytes then
      select count(*), coalesce(sum(size), 0) into n, b from mailbox_envelopes
        where mailbox_key = p_mailbox_key and expires_at > p_now;
      if n + 1 > p_max_count or b + sz > p_max_bytes then
        return 'mailbox-full';
      end if;
    end if;
    select bytes into b from mailbox_source_bytes where source = p_source;
    if coalesce(b, 0) + sz > p_max_source_bytes then
      select coalesce(sum(size), 0) into b from mailbox_envelopes
        where source = p_source and expires_at > p_now;
      if b + sz > p_max_source_bytes then
        return 'source-full';
      end if;
    end if;
    -- An expired envelope with this ID that expire() has not removed yet: replaced.
    delete from mailbox_envelopes where mailbox_key = p_mailbox_key and id = p_id
      returning source, size into old_source, old_size;
    if found then
      update mailbox_counters set envelopes = envelopes - 1, bytes = bytes - old_size
        where mailbox_key = p_mailbox_key;
      update mailbox_source_bytes set bytes = bytes - old_size where source = old_source;
    end if;
    insert into mailbox_envelopes (mailbox_key, id, data, size, source, stored_at, expires_at)
      values (p_mailbox_key, p_id, p_data, sz, p_source, p_stored_at, p_expires_at);
    insert into mailbox_counters (mailbox_key, envelopes, bytes) values (p_mailbox_key, 1, sz)
      on conflict (mailbox_key) do update set
        envelopes = mailbox_counters.envelopes + 1, bytes = mailbox_counters.bytes + sz;
    insert into mailbox_source_bytes (source, bytes) values (p_source, sz)
      on conflict (source) do update set bytes = mailbox_source_bytes.bytes + sz;
    return 'stored';
  end
  $$`

// put() without serialising a source's puts (0003). `mailbox_put` (0002) held an advisory
// lock per source until its commit had been flushed to disk, so every put from one address
// waited for the previous one's flush. Here the totals are reserved first, in a transaction
// of their own that commits without waiting for the flush (`synchronous_commit` off for that
// transaction only): a row lock on a total is held for one UPDATE. Then the envelope is
// inserted in a second, durable transaction. Its flush also flushes the reservation, which
// is earlier in the log, so a stored envelope is always counted, and the totals are never
// below what is stored plus what is being stored (a put between its two steps).
//
// The fast path is one conditional UPDATE per total (`… where total + size <= max`): rows
// locked by concurrent puts are re-read after their commit, so the quota is exact. When a
// total refuses, the live amount is computed under the row's lock as the total minus the
// envelopes already expired (the total counts those until expire() removes them): exact
// too, since puts between their steps are part of the total. Totals run high only after a
// crash between the two steps of a put (at most one envelope per pooled connection), which
// can only refuse, never overshoot. Locks: a mailbox's row, then a source's (same order in
// every writer).
const MAILBOX_STORE_ENVELOPE_PROCEDURE = `
  create procedure mailbox_store_envelope(
    p_mailbox_key bytea, p_id bytea, p_data bytea, p_source text,
    p_stored_at bigint, p_expires_at bigint, p_now bigint,
    p_max_count bigint, p_max_bytes bigint, p_max_source_bytes bigint,
    inout outcome text default null
  ) language plpgsql as $$
  declare
    sz integer := octet_length(p_data);
    n bigint;
    b bigint;
    expired_n bigint;
    expired_b bigint;
    old_source text;
    old_size integer;
  begin
    -- Step 1: checks and reservation; this transaction's commit does not wait for the disk.
    perform set_config('synchronous_commit', 'off', true);
    if exists (select 1 from mailbox_tombstones where mailbox_key = p_mailbox_key
               and id = p_id and expires_at > p_now) then
      outcome := 'deleted';
      return;
    end if;
    if exists (select 1 from mailbox_envelopes where mailbox_key = p_mailbox_key
               and id = p_id and expires_at > p_now) then
      outcome := 'duplicate';
      return;
    end if;
    if p_max_count < 1 or sz > p_max_bytes then
      outcome := 'mailbox-full';
      return;
    end if;
    insert into mailbox_counters as c (mailbox_key, envelopes, bytes) values (p_mailbox_key, 1, sz)
      on conflict (mailbox_key) do update set envelopes = c.envelopes + 1, bytes = c.bytes + sz
      where c.envelopes + 1 <= p_max_count and c.bytes + sz <= p_max_bytes;
    if not found then
      select envelopes, bytes into n, b from mailbox_counters
        where mailbox_key = p_mailbox_key for update;
      select count(*), coalesce(sum(size), 0) into expired_n, expired_b from mailbox_envelopes
        where mailbox_key = p_mailbox_key and expires_at <= p_now;
      if n - expired_n + 1 > p_max_count or b - expired_b + sz > p_max_bytes then
        outcome := 'mailbox-full';
        return;
      end if;
      update mailbox_counters set envelopes = envelopes + 1, bytes = bytes + sz
        where mailbox_key = p_mailbox_key;
    end if;
    if sz > p_max_source_bytes then
      rollback;
      outcome := 'source-full';
      return;
    end if;
    insert into mailbox_source_bytes as s (source, bytes) values (p_source, sz)
      on conflict (source) do update set bytes = s.bytes + sz
      where s.bytes + sz <= p_max_source_bytes;
    if not found then
      select bytes into b from mailbox_source_bytes where source = p_source for update;
      select coalesce(sum(size), 0) into expired_b from mailbox_envelopes
        where source = p_source and expires_at <= p_now;
      if b - expired_b + sz > p_max_source_bytes then
        rollback;
        outcome := 'source-full';
        return;
      end if;
      update mailbox_source_bytes set bytes = bytes + sz where source = p_source;
    end if;
    commit;
    -- Step 2: the envelope, durably (the session's synchronous_commit again).
    if exists (select 1 from mailbox_tombstones where mailbox_key = p_mailbox_key
               and id = p_id and expires_at > p_now) then
      outcome := 'deleted'; -- deleted between the steps: give the reservation back
    else
      insert into mailbox_envelopes (mailbox_key, id, data, size, source, stored_at, expires_at)
        values (p_mailbox_key, p_id, p_data, sz, p_source, p_stored_at, p_expires_at)
        on conflict (mailbox_key, id) do nothing;
      if found then
        outcome := 'stored';
        return;
      end if;
      -- An expired envelope with this ID that expire() has not removed yet: replaced.
      delete from mailbox_envelopes where mailbox_key = p_mailbox_key and id = p_id
        and expires_at <= p_now
        returning source, size into old_source, old_size;
      if found then
        update mailbox_counters set envelopes = envelopes - 1, bytes = bytes - old_size
          where mailbox_key = p_mailbox_key;
        update mailbox_source_bytes set bytes = bytes - old_size where source = old_source;
        insert into mailbox_envelopes (mailbox_key, id, data, size, source, stored_at, expires_at)
          values (p_mailbox_key, p_id, p_data, sz, p_source, p_stored_at, p_expires_at)
          on conflict (mailbox_key, id) do nothing;
        if found then
          outcome := 'stored';
          return;
        end if;
      end if;
      outcome := 'duplicate'; -- stored by a concurrent put between the steps
    end if;
    update mailbox_counters set envelopes = envelopes - 1, bytes = bytes - sz
      where mailbox_key = p_mailbox_key;
    update mailbox_source_bytes set bytes = bytes - sz where source = p_source;
  end
  $$`

// delete() (0003): step 1 deletes and leaves tombstones, durably, with no lock on a total;
// step 2 lowers the totals in a transaction that does not wait for the disk. In between
// the totals are above what is stored, so a concurrent put can only be refused (as if it
// came before the delete), never overshoot. Sources are locked in order (no deadlock).
const MAILBOX_DELETE_ENVELOPES_PROCEDURE = `
  create procedure mailbox_delete_envelopes(
    p_mailbox_key bytea, p_ids text, p_tombstone_expires_at bigint, p_now bigint,
    inout present bigint default null
  ) language plpgsql as $$
  declare
    n bigint;
    b bigint;
    per_source jsonb;
  begin
    with
    ids as (
      select distinct decode(h, 'hex') as id from unnest(string_to_array(p_ids, ',')) as h),
    del as (
      delete from mailbox_envelopes
      where mailbox_key = p_mailbox_key and id in (select id from ids)
      returning source, size, expires_at),
    tomb as (
      insert into mailbox_tombstones (mailbox_key, id, expires_at)
      select p_mailbox_key, id, p_tombstone_expires_at from ids
      on conflict (mailbox_key, id) do update set
        expires_at = greatest(mailbox_tombstones.expires_at, excluded.expires_at)
      returning 1),
    sums as (select source, sum(size) as bytes from del group by source)
    select
      (select count(*) filter (where expires_at > p_now) from del),
      (select count(*) from del),
      (select coalesce(sum(size), 0) from del),
      (select coalesce(jsonb_object_agg(source, bytes), '{}'::jsonb) from sums)
      into present, n, b, per_source;
    if n = 0 then
      return;
    end if;
    commit;
    perform set_config('synchronous_commit', 'off', true);
    update mailbox_counters set envelopes = envelopes - n, bytes = bytes - b
      where mailbox_key = p_mailbox_key;
    perform 1 from mailbox_source_bytes
      where source in (select key from jsonb_each_text(per_source)) order by source for update;
    update mailbox_source_bytes s set bytes = s.bytes - d.value::bigint
      from jsonb_each_text(per_source) d where s.source = d.key;
  end
  $$`

// `mailbox_store_envelopes` (0004): `mailbox_store_envelope` for a batch of envelopes, same
// checks, same two transactions, same outcomes; each envelope with its own `now`. Rows travel as comma-separated texts (hex for
// bytes), as in `mailbox_delete_envelopes`: the same on pg and PGlite. No (mailbox, id) twice
// in a batch (the store sees to it). Row locks on the running totals are taken in one order in
// every writer: every mailbox of the batch (sorted by key), then every source (sorted); the
// single-row procedure and delete take one mailbox then its sources, so no cycle can form.
// Step 2's give-backs (rare: deleted or stored meanwhile, an expired envelope replaced) are
// summed per row and applied at the end in the same order.
const MAILBOX_STORE_ENVELOPES_PROCEDURE = `
  create procedure mailbox_store_envelopes(
    p_keys text, p_ids text, p_data text, p_sources text, p_stored_at text, p_expires_at text,
    p_nows text, p_max_count bigint, p_max_bytes bigint, p_max_source_bytes bigint,
    inout outcomes text default null
  ) language plpgsql as $$
  declare
    keys bytea[] := array(select decode(x, 'hex') from unnest(string_to_array(p_keys, ',')) x);
    ids bytea[] := array(select decode(x, 'hex') from unnest(string_to_array(p_ids, ',')) x);
    datas bytea[] := array(select decode(x, 'hex') from unnest(string_to_array(p_data, ',')) x);
    sources text[] := string_to_array(p_sources, ',');
    stored_ats bigint[] := string_to_array(p_stored_at, ',')::bigint[];
    expires_ats bigint[] := string_to_array(p_expires_at, ',')::bigint[];
    nows bigint[] := string_to_array(p_nows, ',')::bigint[];
    res text[];
    gb_keys bytea[] := '{}';
    gb_counts bigint[] := '{}';
    gb_sizes bigint[] := '{}';
    gb_sources text[] := '{}';
    gb_source_sizes bigint[] := '{}';
    i integer;
    sz integer;
    n bigint;
    b bigint;
    expired_n bigint;
    expired_b bigint;
    old_source text;
    old_size integer;
    r record;
  begin
    res := array_fill('reserved'::text, array[coalesce(array_length(keys, 1), 0)]);
    -- Step 1: checks and reservations, mailboxes in key order; not waiting for the disk.
    perform set_config('synchronous_commit', 'off', true);
    for i in select o from unnest(keys) with ordinality as u(k, o) order by k, o loop
      sz := octet_length(datas[i]);
      if exists (select 1 from mailbox_tombstones where mailbox_key = keys[i]
                 and id = ids[i] and expires_at > nows[i]) then
        res[i] := 'deleted';
      elsif exists (select 1 from mailbox_envelopes where mailbox_key = keys[i]
                    and id = ids[i] and expires_at > nows[i]) then
        res[i] := 'duplicate';
      elsif p_max_count < 1 or sz > p_max_bytes then
        res[i] := 'mailbox-full';
      else
        insert into mailbox_counters as c (mailbox_key, envelopes, bytes) values (keys[i], 1, sz)
          on conflict (mailbox_key) do update set envelopes = c.envelopes + 1, bytes = c.bytes + sz
          where c.envelopes + 1 <= p_max_count and c.bytes + sz <= p_max_bytes;
        if not found then
          select envelopes, bytes into n, b from mailbox_counters
            where mailbox_key = keys[i] for update;
          select count(*), coalesce(sum(size), 0) into expired_n, expired_b
            from mailbox_envelopes where mailbox_key = keys[i] and expires_at <= nows[i];
          if n - expired_n + 1 > p_max_count or b - expired_b + sz > p_max_bytes then
            res[i] := 'mailbox-full';
          else
            update mailbox_counters set envelopes = envelopes + 1, bytes = bytes + sz
              where mailbox_key = keys[i];
          end if;
        end if;
      end if;
    end loop;
    -- Then the sources, in order; a refused row gives its mailbox reservation back (that
    -- row is locked by this transaction already).
    for i in select o from unnest(sources) with ordinality as u(s, o) order by s, o loop
      continue when res[i] <> 'reserved';
      sz := octet_length(datas[i]);
      if sz > p_max_source_bytes then
        res[i] := 'source-full';
      else
        insert into mailbox_source_bytes as s (source, bytes) values (sources[i], sz)
          on conflict (source) do update set bytes = s.bytes + sz
          where s.bytes + sz <= p_max_source_bytes;
        if not found then
          select bytes into b from mailbox_source_bytes where source = sources[i] for update;
          select coalesce(sum(size), 0) into expired_b from mailbox_envelopes
            where source = sources[i] and expires_at <= nows[i];
          if b - expired_b + sz > p_max_source_bytes then
            res[i] := 'source-full';
          else
            update mailbox_source_bytes set bytes = bytes + sz where source = sources[i];
          end if;
        end if;
      end if;
      if res[i] = 'source-full' then
        update mailbox_counters set envelopes = envelopes - 1, bytes = bytes - sz
          where mailbox_key = keys[i];
      end if;
    end loop;
    commit;
    -- Step 2: the envelopes, durably (the session's synchronous_commit again).
    for i in 1 .. coalesce(array_length(keys, 1), 0) loop
      continue when res[i] <> 'reserved';
      sz := octet_length(datas[i]);
      if exists (select 1 from mailbox_tombstones where mailbox_key = keys[i]
                 and id = ids[i] and expires_at > nows[i]) then
        res[i] := 'deleted'; -- deleted between the steps: give the reservation back
      else
        insert into mailbox_envelopes (mailbox_key, id, data, size, source, stored_at, expires_at)
          values (keys[i], ids[i], datas[i], sz, sources[i], stored_ats[i], expires_ats[i])
          on conflict (mailbox_key, id) do nothing;
        if found then
          res[i] := 'stored';
          continue;
        end if;
        -- An expired envelope with this ID that expire() has not removed yet: replaced.
        delete from mailbox_envelopes where mailbox_key = keys[i] and id = ids[i]
          and expires_at <= nows[i]
          returning source, size into old_source, old_size;
        if found then
          gb_keys := gb_keys || keys[i];
          gb_counts := gb_counts || 1::bigint;
          gb_sizes := gb_sizes || old_size::bigint;
          gb_sources := gb_sources || old_source;
          gb_source_sizes := gb_source_sizes || old_size::bigint;
          insert into mailbox_envelopes (mailbox_key, id, data, size, source, stored_at, expires_at)
            values (keys[i], ids[i], datas[i], sz, sources[i], stored_ats[i], expires_ats[i])
            on conflict (mailbox_key, id) do nothing;
          if found then
            res[i] := 'stored';
            continue;
          end if;
        end if;
        res[i] := 'duplicate'; -- stored by a concurrent put between the steps
      end if;
      gb_keys := gb_keys || keys[i];
      gb_counts := gb_counts || 1::bigint;
      gb_sizes := gb_sizes || sz::bigint;
      gb_sources := gb_sources || sources[i];
      gb_source_sizes := gb_source_sizes || sz::bigint;
    end loop;
    for r in select k, sum(c) as c, sum(z) as z from unnest(gb_keys, gb_counts, gb_sizes) as g(k, c, z)
             group by k order by k loop
      update mailbox_counters set envelopes = envelopes - r.c, bytes = bytes - r.z
        where mailbox_key = r.k;
    end loop;
    for r in select s, sum(z) as z from unnest(gb_sources, gb_source_sizes) as g(s, z)
             group by s order by s loop
      update mailbox_source_bytes set bytes = bytes - r.z where source = r.s;
    end loop;
    outcomes := array_to_string(res, ',');
  end
  $$`

// `mailbox_delete_batch` (0005): `mailbox_delete_envelopes` for several delete requests at
// once. One row per (request, envelope ID): the request's index, mailbox key and ID (hex),
// its tombstone expiry and its `now`. At most one request per mailbox in a batch (the store
// sees to it). `presents`: per request, how many of its IDs were live, comma-separated.
// Step 1 deletes and leaves tombstones, durably; step 2 lowers the running totals without
// waiting for the disk, mailboxes in key order, then sources in order (as every writer).
const MAILBOX_DELETE_BATCH_PROCEDURE = `
  create procedure mailbox_delete_batch(
    p_count integer, p_reqs text, p_keys text, p_ids text, p_tombstone_expires_at text,
    p_nows text, inout presents text default null
  ) language plpgsql as $$
  declare
    v_deleted bigint;
    v_boxes jsonb;
    v_sources jsonb;
    v_requests jsonb;
    rec record;
  begin
    with
    req as (
      select u.r::integer as r, decode(u.k, 'hex') as k, decode(u.i, 'hex') as id,
        u.t::bigint as t, u.n::bigint as now
      from unnest(string_to_array(p_reqs, ','), string_to_array(p_keys, ','),
        string_to_array(p_ids, ','), string_to_array(p_tombstone_expires_at, ','),
        string_to_array(p_nows, ',')) as u(r, k, i, t, n)),
    del as (
      delete from mailbox_envelopes e using req
      where e.mailbox_key = req.k and e.id = req.id
      returning req.r, req.now, e.mailbox_key, e.source, e.size, e.expires_at),
    tomb as (
      insert into mailbox_tombstones (mailbox_key, id, expires_at)
      select distinct on (k, id) k, id, t from req order by k, id, t desc
      on conflict (mailbox_key, id) do update set
        expires_at = greatest(mailbox_tombstones.expires_at, excluded.expires_at)
      returning 1),
    boxes as (select mailbox_key, count(*) as n, sum(size) as b from del group by mailbox_key),
    sums as (select source, sum(size) as b from del group by source),
    pres as (select r, count(*) filter (where expires_at > now) as p from del group by r)
    select
      (select count(*) from del),
      (select coalesce(jsonb_object_agg(encode(mailbox_key, 'hex'), jsonb_build_array(n, b)),
        '{}'::jsonb) from boxes),
      (select coalesce(jsonb_object_agg(source, b), '{}'::jsonb) from sums),
      (select coalesce(jsonb_object_agg(r::text, p), '{}'::jsonb) from pres)
      into v_deleted, v_boxes, v_sources, v_requests;
    presents := (select string_agg(coalesce(v_requests ->> g::text, '0'), ',' order by g)
      from generate_series(0, p_count - 1) as g);
    if v_deleted = 0 then
      return;
    end if;
    commit;
    perform set_config('synchronous_commit', 'off', true);
    for rec in select decode(key, 'hex') as k, (value ->> 0)::bigint as n,
               (value ->> 1)::bigint as b
             from jsonb_each(v_boxes) order by 1 loop
      update mailbox_counters set envelopes = envelopes - rec.n, bytes = bytes - rec.b
        where mailbox_key = rec.k;
    end loop;
    for rec in select key as s, value::bigint as b from jsonb_each_text(v_sources) order by key loop
      update mailbox_source_bytes set bytes = bytes - rec.b where source = rec.s;
    end loop;
  end
  $$`

const migrationProvider: MigrationProvider = {
  getMigrations: () => Promise.resolve(migrations),
}

/** What {@link migrateToLatest} did: the names of the migrations it applied (empty if none). */
export interface MigrationOutcome {
  applied: string[]
}

/** Retries of the migrator's set-up after a transient catalog error: 3. */
const SETUP_RETRIES = 3

/**
 * Brings the schema up to date; a no-op when it already is. The migration tables
 * (`kysely_migration`, `kysely_migration_lock`) live in the connection's current schema, so
 * several schemas in one database (as in the tests) never see each other's.
 */
export async function migrateToLatest<DB>(db: Kysely<DB>): Promise<MigrationOutcome> {
  const { rows } = await sql<{ schema: string }>`select current_schema() as schema`.execute(db)
  const schema = rows[0]?.schema
  if (schema === undefined) throw new Error('storage has no current schema (check search_path)')
  const migrator = new Migrator({ db, provider: migrationProvider, migrationTableSchema: schema })
  let { error, results = [] } = await migrator.migrateToLatest()
  // Kysely's set-up reads the catalog of every schema; a schema dropped meanwhile by another
  // process (test teardown, an operator) can fail that read. Nothing was applied then
  // (`results` is empty): try the set-up again, a bounded number of times.
  for (
    let attempt = 1;
    error !== undefined && results.length === 0 && attempt <= SETUP_RETRIES;
    attempt++
  ) {
    ;({ error, results = [] } = await migrator.migrateToLatest())
  }
  if (error !== undefined) {
    const failed = results.find((result) => result.status === 'Error')
    throw new Error(`storage migration ${failed?.migrationName ?? '(setup)'} failed`, {
      cause: error,
    })
  }
  return { applied: results.filter((r) => r.status === 'Success').map((r) => r.migrationName) }
}
