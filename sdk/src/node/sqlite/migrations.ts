// Over 500 lines: the client database's table types and its append-only migrations side by
// side, so that a new column is typed where it is added; released migrations never change.
import { sql, type Kysely } from 'kysely'
import type { Migration } from 'kysely/migration'

/** The client database's tables, as Kysely sees them. */
export interface ClientDatabase {
  identity: {
    /** Always 1: a home holds exactly one identity. */
    slot: number
    /** `Identity.serialize()`: the secret key pair. */
    key_pair: Uint8Array
    text_id: string
    name: string | null
    created_at: number
    /** The account key when this device is not device 1 (null: the key pair is the account's). */
    account_key: Uint8Array | null
    /** This device's ID: 1 for the account key's device, 0 while waiting to be linked. */
    device_id: number
    /** This device's public key (33 bytes), readable without a crypto library; null before 0010. */
    public_key: Uint8Array | null
  }
  settings: {
    key: string
    /** JSON. */
    value: string
    updated_at: number
  }
  /** Every libsignal store, as `SignalStorage` (namespace, key) → bytes. */
  signal_kv: {
    namespace: string
    key: string
    value: Uint8Array
  }
  contacts: {
    /** The text ID. */
    id: string
    public_key: Uint8Array
    name: string | null
    added_at: number
    last_seen_at: number | null
    /** A `RefusalReason` after a refused message claiming this contact. */
    flagged: string | null
    /** 1: a contact request (a stranger wrote first; not accepted yet), 0: a contact. */
    request: number
    /** 1: blocked (its messages are dropped unread). */
    blocked: number
    /** The name the account gave itself (an `intro`), cleaned; a claim, never shown as a contact's name. */
    claimed_name: string | null
    /** Messages of a blocked account dropped so far. */
    dropped: number
  }
  messages: {
    /** 32 hex characters, the same on both sides. */
    id: string
    contact_id: string
    /** `in` or `out`. */
    direction: string
    body: string
    sent_at: number
    received_at: number
    /** pending, sent, stored, delivered, read. */
    state: string
    /** 1 once read (incoming: by the user; outgoing: a read receipt came). */
    read: number
    /** direct or mailbox, once known. */
    route: string | null
    /** Incoming: 1 once the `message` event was emitted (0: emit it at the next start). */
    notified: number
    /** Who wrote it: `accountTextId.deviceId` (incoming: the contact's device; outgoing: ours). */
    sender: string
  }
  outbox: {
    /** The payload's message ID (a chat message or a receipt), hex. */
    id: string
    contact_id: string
    /** The encoded plaintext (`encodeChatPayload`), saved before any network I/O. */
    plaintext: Uint8Array
    /**
     * The sealed message for the mailbox: saved in the transaction that advanced the ratchet
     * (earlier versions), or sealed from `signal` at the first mailbox attempt and saved
     * before it, so every attempt puts the same envelope.
     */
    sealed: Uint8Array | null
    /**
     * The Signal message, `type (1) || message`, saved in the transaction that advanced the
     * ratchet. Sent as is over a direct link; sealed for the mailbox.
     */
    signal: Uint8Array | null
    /** The chat message whose state this entry moves, `null` for receipts and copies to own devices. */
    message_id: string | null
    created_at: number
    attempts: number
    next_attempt_at: number
    /** The account it goes to (null: `contact_id`) and which of its devices. */
    to_account: string | null
    to_device: number
  }
  /** Mailbox envelopes (and direct deliveries) already handled: never shown twice. */
  processed_envelopes: {
    /** Envelope ID, hex. */
    id: string
    processed_at: number
    /** `ok`, or the refusal reason. */
    outcome: string
  }
  /** Receipts owed to contacts, batched into one receipt message per contact. */
  pending_receipts: {
    contact_id: string
    message_id: string
    /** delivered or read. */
    kind: string
  }
  dht_nodes: {
    /** `host:port`. */
    address: string
    host: string
    port: number
    last_seen_at: number
  }
  /** The newest verified device list of each account (contacts' and our own). */
  device_lists: {
    /** The account's text ID. */
    account: string
    seq: number
    /** The signed record (type 3), as on the wire. */
    record: Uint8Array
    /** When it was last fetched from the DHT or confirmed, ms since the epoch. */
    checked_at: number
  }
  /** The groups this device knows (docs/PROTOCOL.md, "Groups"). */
  groups: {
    /** The group's text ID (`g1…`). */
    id: string
    revision: number
    /** 1 while this account is a member. */
    member: number
    joined_at: number
    /** This device's sender-key chain (distribution ID), once it sent. */
    chain: Uint8Array | null
    /** JSON array of `account.device` the chain was given to. */
    given: string
    /** The chain's group mailbox seed. */
    seed: Uint8Array | null
    /** JSON array of `account.device` given the seed with the chain. */
    seeded: string | null
  }
  /** The signed states of each group, as held (consecutive revisions). */
  group_states: {
    group_id: string
    revision: number
    state: Uint8Array
  }
  /** Received sender-key chains: whose and for which group. */
  group_senders: {
    /** Hex. */
    distribution_id: string
    /** `account.device`. */
    sender: string
    group_id: string
    /** The chain's group mailbox seed, when its sender gave one. */
    seed: Uint8Array | null
    /** When its group mailbox was last read through, ms since the epoch. */
    read_at: number | null
    /** When its key was sent (the sender's clock, at most the arrival time). */
    since: number | null
  }
  /** Group messages that came before their sender key. */
  /** Attachments of messages (docs/PROTOCOL.md, "Attachments"): pointers, states, ciphertext at rest. */
  attachments: {
    message_id: string
    contact_id: string
    direction: string
    /** The sending device, `accountTextId.deviceId`. */
    sender: string
    /** The encoded pointer (keys included: secret). */
    pointer: Uint8Array
    /** An `AttachmentState`. */
    state: string
    /** The whole ciphertext once held (sent, or fetched and checked); decrypted on view. */
    ciphertext: Uint8Array | null
    updated_at: number
  }
  /** Chunks of an attachment being fetched, kept so that a transfer resumes. */
  attachment_chunks: {
    message_id: string
    idx: number
    data: Uint8Array
  }
  group_pending: {
    id: string
    sender: string
    distribution_id: string
    route: string
    data: Uint8Array
    received_at: number
  }
  /** Incoming messages that were refused, kept for diagnostics. */
  refusals: {
    id: string
    claimed_sender: string | null
    reason: string
    route: string
    at: number
  }
}

/**
 * The client database's migrations, in order. Append only: a released migration never
 * changes, a new one is added under the next name.
 */
export const CLIENT_MIGRATIONS: Record<string, Migration> = {
  '0001_identity_settings': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('identity')
        .addColumn('slot', 'integer', (c) => c.primaryKey().check(sql`slot = 1`))
        .addColumn('key_pair', 'blob', (c) => c.notNull())
        .addColumn('text_id', 'text', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('settings')
        .addColumn('key', 'text', (c) => c.primaryKey())
        .addColumn('value', 'text', (c) => c.notNull())
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('settings').execute()
      await db.schema.dropTable('identity').execute()
    },
  },
  '0002_signal_storage': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('signal_kv')
        .addColumn('namespace', 'text', (c) => c.notNull())
        .addColumn('key', 'text', (c) => c.notNull())
        .addColumn('value', 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint('signal_kv_pk', ['namespace', 'key'])
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('signal_kv').execute()
    },
  },
  '0003_messaging': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('contacts')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('public_key', 'blob', (c) => c.notNull())
        .addColumn('name', 'text')
        .addColumn('added_at', 'integer', (c) => c.notNull())
        .addColumn('last_seen_at', 'integer')
        .addColumn('flagged', 'text')
        .execute()
      await db.schema
        .createTable('messages')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull().check(sql`direction in ('in', 'out')`))
        .addColumn('body', 'text', (c) => c.notNull())
        .addColumn('sent_at', 'integer', (c) => c.notNull())
        .addColumn('received_at', 'integer', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('read', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('route', 'text')
        .execute()
      await db.schema
        .createIndex('messages_by_contact')
        .on('messages')
        .columns(['contact_id', 'sent_at', 'id'])
        .execute()
      await db.schema
        .createTable('outbox')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('plaintext', 'blob', (c) => c.notNull())
        .addColumn('sealed', 'blob')
        .addColumn('message_id', 'text')
        .addColumn('created_at', 'integer', (c) => c.notNull())
        .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
        .addColumn('next_attempt_at', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('processed_envelopes')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('processed_at', 'integer', (c) => c.notNull())
        .addColumn('outcome', 'text', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('pending_receipts')
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('kind', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('pending_receipts_pk', ['contact_id', 'message_id', 'kind'])
        .execute()
      await db.schema
        .createTable('dht_nodes')
        .addColumn('address', 'text', (c) => c.primaryKey())
        .addColumn('host', 'text', (c) => c.notNull())
        .addColumn('port', 'integer', (c) => c.notNull())
        .addColumn('last_seen_at', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('refusals')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('claimed_sender', 'text')
        .addColumn('reason', 'text', (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('at', 'integer', (c) => c.notNull())
        .execute()
    },
    async down(db: Kysely<unknown>) {
      for (const table of [
        'refusals',
        'dht_nodes',
        'pending_receipts',
        'processed_envelopes',
        'outbox',
        'messages',
        'contacts',
      ]) {
        await db.schema.dropTable(table).execute()
      }
    },
  },
  '0004_message_notified': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .alterTable('messages')
        .addColumn('notified', 'integer', (c) => c.notNull().defaultTo(1))
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('messages').dropColumn('notified').execute()
    },
  },
  '0005_outbox_signal': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('outbox').addColumn('signal', 'blob').execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('outbox').dropColumn('signal').execute()
    },
  },
  '0006_devices': {
    async up(db: Kysely<unknown>) {
      // A home made before devices is device 1 of its account: its key is the account key.
      await db.schema.alterTable('identity').addColumn('account_key', 'blob').execute()
      await db.schema
        .alterTable('identity')
        .addColumn('device_id', 'integer', (c) => c.notNull().defaultTo(1))
        .execute()
      await db.schema
        .alterTable('messages')
        .addColumn('sender', 'text', (c) => c.notNull().defaultTo(''))
        .execute()
      await sql`update messages set sender = contact_id || '.1' where direction = 'in'`.execute(db)
      await sql`update messages set sender = coalesce((select text_id from identity where slot = 1), '') || '.1'
                where direction = 'out'`.execute(db)
      await db.schema.alterTable('outbox').addColumn('to_account', 'text').execute()
      await db.schema
        .alterTable('outbox')
        .addColumn('to_device', 'integer', (c) => c.notNull().defaultTo(1))
        .execute()
      await db.schema
        .createTable('device_lists')
        .addColumn('account', 'text', (c) => c.primaryKey())
        .addColumn('seq', 'integer', (c) => c.notNull())
        .addColumn('record', 'blob', (c) => c.notNull())
        .addColumn('checked_at', 'integer', (c) => c.notNull())
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('device_lists').execute()
      await db.schema.alterTable('outbox').dropColumn('to_device').execute()
      await db.schema.alterTable('outbox').dropColumn('to_account').execute()
      await db.schema.alterTable('messages').dropColumn('sender').execute()
      await db.schema.alterTable('identity').dropColumn('device_id').execute()
      await db.schema.alterTable('identity').dropColumn('account_key').execute()
    },
  },
  '0007_groups': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('groups')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('member', 'integer', (c) => c.notNull())
        .addColumn('joined_at', 'integer', (c) => c.notNull())
        .addColumn('chain', 'blob')
        .addColumn('given', 'text', (c) => c.notNull().defaultTo('[]'))
        .execute()
      await db.schema
        .createTable('group_states')
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addColumn('revision', 'integer', (c) => c.notNull())
        .addColumn('state', 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_states_pk', ['group_id', 'revision'])
        .execute()
      await db.schema
        .createTable('group_senders')
        .addColumn('distribution_id', 'text', (c) => c.notNull())
        .addColumn('sender', 'text', (c) => c.notNull())
        .addColumn('group_id', 'text', (c) => c.notNull())
        .addPrimaryKeyConstraint('group_senders_pk', ['distribution_id', 'sender'])
        .execute()
      await db.schema
        .createTable('group_pending')
        .addColumn('id', 'text', (c) => c.primaryKey())
        .addColumn('sender', 'text', (c) => c.notNull())
        .addColumn('distribution_id', 'text', (c) => c.notNull())
        .addColumn('route', 'text', (c) => c.notNull())
        .addColumn('data', 'blob', (c) => c.notNull())
        .addColumn('received_at', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createIndex('group_pending_by_chain')
        .on('group_pending')
        .columns(['sender', 'distribution_id', 'received_at'])
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('group_pending').execute()
      await db.schema.dropTable('group_senders').execute()
      await db.schema.dropTable('group_states').execute()
      await db.schema.dropTable('groups').execute()
    },
  },
  '0008_attachments': {
    async up(db: Kysely<unknown>) {
      await db.schema
        .createTable('attachments')
        .addColumn('message_id', 'text', (c) => c.primaryKey())
        .addColumn('contact_id', 'text', (c) => c.notNull())
        .addColumn('direction', 'text', (c) => c.notNull())
        .addColumn('sender', 'text', (c) => c.notNull())
        .addColumn('pointer', 'blob', (c) => c.notNull())
        .addColumn('state', 'text', (c) => c.notNull())
        .addColumn('ciphertext', 'blob')
        .addColumn('updated_at', 'integer', (c) => c.notNull())
        .execute()
      await db.schema
        .createTable('attachment_chunks')
        .addColumn('message_id', 'text', (c) => c.notNull())
        .addColumn('idx', 'integer', (c) => c.notNull())
        .addColumn('data', 'blob', (c) => c.notNull())
        .addPrimaryKeyConstraint('attachment_chunks_pk', ['message_id', 'idx'])
        .execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.dropTable('attachment_chunks').execute()
      await db.schema.dropTable('attachments').execute()
    },
  },
  '0009_contact_requests': {
    async up(db: Kysely<unknown>) {
      // Rows from before were all contacts (a stranger's first message made one): they stay so.
      await db.schema
        .alterTable('contacts')
        .addColumn('request', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
      await db.schema
        .alterTable('contacts')
        .addColumn('blocked', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
      await db.schema.alterTable('contacts').addColumn('claimed_name', 'text').execute()
      await db.schema
        .alterTable('contacts')
        .addColumn('dropped', 'integer', (c) => c.notNull().defaultTo(0))
        .execute()
    },
    async down(db: Kysely<unknown>) {
      for (const column of ['dropped', 'claimed_name', 'blocked', 'request']) {
        await db.schema.alterTable('contacts').dropColumn(column).execute()
      }
    },
  },
  '0010_identity_public_key': {
    async up(db: Kysely<unknown>) {
      // Filled in for older homes the next time the client store loads the identity.
      await db.schema.alterTable('identity').addColumn('public_key', 'blob').execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('identity').dropColumn('public_key').execute()
    },
  },
  '0011_group_mailboxes': {
    async up(db: Kysely<unknown>) {
      await db.schema.alterTable('groups').addColumn('seed', 'blob').execute()
      await db.schema.alterTable('groups').addColumn('seeded', 'text').execute()
      await db.schema.alterTable('group_senders').addColumn('seed', 'blob').execute()
      await db.schema.alterTable('group_senders').addColumn('read_at', 'integer').execute()
      await db.schema.alterTable('group_senders').addColumn('since', 'integer').execute()
    },
    async down(db: Kysely<unknown>) {
      await db.schema.alterTable('group_senders').dropColumn('since').execute()
      await db.schema.alterTable('group_senders').dropColumn('read_at').execute()
      await db.schema.alterTable('group_senders').dropColumn('seed').execute()
      await db.schema.alterTable('groups').dropColumn('seeded').execute()
      await db.schema.alterTable('groups').dropColumn('seed').execute()
    },
  },
}
