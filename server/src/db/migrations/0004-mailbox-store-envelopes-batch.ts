import { sql, type Kysely } from 'kysely'

// Migration 0004_mailbox_store_envelopes_batch: put() coalesced; concurrent puts go out as one
// call of a batch procedure (one round trip, one statement and two commits for many envelopes
// instead of for each). Shipped: never edit it; add the next migration instead.

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql.raw(MAILBOX_STORE_ENVELOPES_PROCEDURE).execute(db)
}

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
