import { sql, type Kysely } from 'kysely'

// Migration 0003_mailbox_short_critical_sections: put() and delete() as procedures in two
// transactions each, so the running totals' row locks are held for microseconds instead of
// across a commit's WAL flush. Shipped: never edit it; add the next migration instead.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(MAILBOX_STORE_ENVELOPE_PROCEDURE).execute(db)
  await sql.raw(MAILBOX_DELETE_ENVELOPES_PROCEDURE).execute(db)
}

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
