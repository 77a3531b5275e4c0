import { sql, type Kysely } from 'kysely'

// Migration 0002_dht_mailboxes_records_contacts (issue 3): the super-node's DHT node keeps
// mailboxes, signed records and its routing table. Shipped: never edit it; add the next one.

export async function up(db: Kysely<unknown>): Promise<void> {
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
