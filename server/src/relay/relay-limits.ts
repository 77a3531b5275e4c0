/** TCP port of the relay when `--relay-port` is not given: next to the DHT's 7401. */
export const DEFAULT_RELAY_PORT = 7402

/** Per-client limits of the relay. */
export interface RelayLimits {
  /** Relayed links one client may be an end of at once. */
  maxLinks: number
  /** Bytes one client may send through the relay per {@link RelayLimits.bytesWindowMs}. */
  maxBytes: number
  /** The window `maxBytes` counts in. */
  bytesWindowMs: number
  /** How long one relayed link may last; then it is cut (the ends dial again if they want). */
  maxDurationMs: number
  /** Clients registered at once. */
  maxClients: number
}

/** Default limits: a chat's worth, not a file-sharing service. */
export const DEFAULT_RELAY_LIMITS: RelayLimits = {
  maxLinks: 16, // a person's open chats, and their devices
  maxBytes: 64 * 1024 * 1024, // 64 MiB an hour: thousands of messages and a few pictures
  bytesWindowMs: 3_600_000, // 1 h
  maxDurationMs: 1_800_000, // 30 min: links are redialed on demand
  maxClients: 10_000,
}
