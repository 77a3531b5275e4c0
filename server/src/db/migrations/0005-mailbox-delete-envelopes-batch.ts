import { sql, type Kysely } from 'kysely'

// Migration 0005_mailbox_delete_envelopes_batch: delete() coalesced the same way, one call of
// a batch procedure for many requests. Shipped: never edit it; add the next migration instead.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(MAILBOX_DELETE_BATCH_PROCEDURE).execute(db)
}

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
