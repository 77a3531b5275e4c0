import { BadSignatureError, MalformedError, WrongPeerError } from '../errors.js'
import type { Identity } from '../identity/identity.js'
import { systemRandom, type Random } from '../runtime/host.js'
import { nodeIdFromPublicKey, type NodeId } from '../identity/node-id.js'
import { encodeTextId } from '../identity/text-id.js'
import { equalBytes, toBytes, type Bytes } from '../wire/bytes.js'
import { encodeFrame, FRAME_HEADER_BYTES, FrameDecoder, MAX_FRAME_BYTES } from './frame-codec.js'
import {
  decodeLinkFrame,
  encodeLinkHello,
  encodeLinkProof,
  helloAccount,
  LINK_NONCE_BYTES,
  LINK_VERSION,
  LINK_VERSION_DEVICES,
  LinkFrameType,
  LinkRole,
  linkSigningInput,
  type LinkAccount,
  type LinkHello,
} from './link-messages.js'

/** Largest payload of one data frame: the frame limit minus the type byte. */
export const MAX_LINK_PAYLOAD_BYTES = MAX_FRAME_BYTES - 1

/** The authenticated far end of a link. */
export interface LinkPeer {
  /** Its identity public key (33 bytes): the device's key. */
  publicKey: Bytes
  /** Its ID: SHA-256(publicKey)[0..20). */
  id: NodeId
  /** Its text ID (`p1…`). */
  textId: string
  /**
   * The account it speaks for and which device of it it is, as its hello claims and its proof
   * signs (a version 1 hello: its own key, device 1). A claim: check it against the account's
   * device list before trusting it.
   */
  account: { publicKey: Bytes; id: NodeId; textId: string; deviceId: number }
}

export interface LinkProtocolOptions {
  identity: Identity
  /**
   * The account this device speaks for, when it is not its own key (a device other than 1):
   * the hello then has version 2.
   */
  account?: LinkAccount
  role: LinkRole
  /** Dialer only: the ID we mean to reach; any other identity is refused. */
  expectedId?: Uint8Array
  /** 32 fresh random bytes (tests pass fixed ones; default: from `random`). */
  nonce?: Uint8Array
  /** Where a nonce comes from when none is given; the host's secure random by default. */
  random?: Random
}

/** What one {@link LinkProtocol.receive} call produced. */
export interface LinkStep {
  /** Bytes to write to the peer, in order. */
  out: Bytes[]
  /** Data payloads received, in order (only after authentication). */
  payloads: Bytes[]
  /** Set on the call that completed the handshake. */
  authenticated?: LinkPeer
}

type State = 'start' | 'sent-hello' | 'sent-proof' | 'open' | 'failed'

/**
 * The link protocol as a pure state machine (no sockets, no timers): framing, the mutual
 * handshake, then data frames. The socket adapter ({@link Link}) feeds it bytes and writes
 * what it returns. Any violation throws a typed error and the machine refuses further input:
 * {@link MalformedError} (garbage, wrong order, data before authentication),
 * {@link TooLargeError} (oversize frame), {@link WrongPeerError} (not the expected ID or our
 * own key), {@link BadSignatureError} (proof does not verify).
 *
 * Handshake: each side sends `hello{version, publicKey, nonce}` at once; on the peer's hello
 * it sends `proof{sign(linkSigningInput(ownRole, transcript))}`; on the peer's valid proof the
 * link is open. Data is accepted only once open.
 */
export class LinkProtocol {
  private readonly decoder = new FrameDecoder()
  private readonly nonce: Bytes
  private state: State = 'start'
  private peerHello: LinkHello | undefined
  private peerValue: LinkPeer | undefined

  constructor(private readonly options: LinkProtocolOptions) {
    const nonce = options.nonce ?? (options.random ?? systemRandom)(LINK_NONCE_BYTES)
    if (nonce.byteLength !== LINK_NONCE_BYTES) throw new MalformedError('a link nonce is 32 bytes')
    this.nonce = Uint8Array.from(nonce)
  }

  /** The authenticated peer, once the handshake completed. */
  get peer(): LinkPeer | undefined {
    return this.peerValue
  }

  get isOpen(): boolean {
    return this.state === 'open'
  }

  /** Our hello frame: write it as soon as the connection is up. */
  start(): Bytes {
    if (this.state !== 'start') throw new MalformedError('the link handshake already started')
    this.state = 'sent-hello'
    return encodeFrame(encodeLinkHello(this.ownHello()))
  }

  private ownHello(): LinkHello {
    const { account, identity } = this.options
    return account && !equalBytes(account.publicKey, identity.publicKey)
      ? { version: LINK_VERSION_DEVICES, publicKey: identity.publicKey, nonce: this.nonce, account }
      : { version: LINK_VERSION, publicKey: identity.publicKey, nonce: this.nonce }
  }

  /** A data frame for `payload` (only once open). */
  encodeData(payload: Uint8Array): Bytes {
    // One allocation on the hot path: length, type byte, payload.
    return this.dataHead(payload.byteLength, payload)
  }

  /**
   * A data frame whose payload is `payload ‖ tail`, as two pieces to write one after the
   * other: the head (length, type byte, `payload`) and `tail` itself, not copied (an
   * attachment's chunk goes from the ciphertext held to the socket).
   */
  encodeDataParts(payload: Uint8Array, tail: Uint8Array): [Bytes, Uint8Array] {
    return [this.dataHead(payload.byteLength + tail.byteLength, payload), tail]
  }

  /** A data frame's length (for a payload of `length` bytes), its type byte, then `first`. */
  private dataHead(length: number, first: Uint8Array): Bytes {
    if (this.state !== 'open') throw new MalformedError('the link is not authenticated yet')
    if (length === 0 || length > MAX_LINK_PAYLOAD_BYTES) {
      throw new MalformedError(`a link payload is 1 to ${MAX_LINK_PAYLOAD_BYTES} bytes`)
    }
    const head = new Uint8Array(FRAME_HEADER_BYTES + 1 + first.byteLength)
    new DataView(head.buffer).setUint32(0, 1 + length)
    head[FRAME_HEADER_BYTES] = LinkFrameType.data
    head.set(first, FRAME_HEADER_BYTES + 1)
    return head
  }

  /** Bytes received but not yet a whole frame. */
  get pendingBytes(): number {
    return this.decoder.pendingBytes
  }

  /** Feeds received bytes. Throws a typed error on any violation (then close the socket). */
  receive(chunk: Uint8Array): LinkStep {
    if (this.state === 'failed') throw new MalformedError('the link already failed')
    if (this.state === 'start') throw new MalformedError('call start() before receive()')
    const step: LinkStep = { out: [], payloads: [] }
    try {
      for (const body of this.decoder.push(chunk)) this.handle(body, step)
    } catch (error) {
      this.state = 'failed'
      throw error
    }
    return step
  }

  private handle(body: Bytes, step: LinkStep): void {
    const frame = decodeLinkFrame(body)
    switch (this.state) {
      case 'sent-hello': {
        if (frame.type !== LinkFrameType.hello) {
          throw new MalformedError('the peer must send hello first')
        }
        const { publicKey } = frame.hello
        const { identity, expectedId, role } = this.options
        if (equalBytes(publicKey, identity.publicKey)) {
          throw new WrongPeerError('the peer presented our own identity key')
        }
        const id = nodeIdFromPublicKey(publicKey)
        if (expectedId && !equalBytes(id, expectedId)) {
          throw new WrongPeerError(
            `dialed ${encodeTextId(toBytes(expectedId))} but the peer is ${encodeTextId(id)}`,
          )
        }
        this.peerHello = frame.hello
        step.out.push(encodeFrame(encodeLinkProof(identity.sign(this.signingInput(role)))))
        this.state = 'sent-proof'
        return
      }
      case 'sent-proof': {
        if (frame.type !== LinkFrameType.proof) {
          throw new MalformedError('the peer must prove its identity before anything else')
        }
        const hello = this.peerHello!
        const peerRole = this.options.role === LinkRole.dialer ? LinkRole.listener : LinkRole.dialer
        if (
          !this.options.identity.keys.verify(
            hello.publicKey,
            this.signingInput(peerRole),
            frame.signature,
          )
        ) {
          throw new BadSignatureError('the peer did not prove it holds its identity key')
        }
        const id = nodeIdFromPublicKey(hello.publicKey)
        const claimed = helloAccount(hello)
        const accountId = hello.account ? nodeIdFromPublicKey(claimed.publicKey) : id
        this.peerValue = {
          publicKey: hello.publicKey,
          id,
          textId: encodeTextId(id),
          account: {
            publicKey: claimed.publicKey,
            id: accountId,
            textId: encodeTextId(accountId),
            deviceId: claimed.deviceId,
          },
        }
        step.authenticated = this.peerValue
        this.state = 'open'
        return
      }
      case 'open': {
        if (frame.type !== LinkFrameType.data) {
          throw new MalformedError('only data frames may follow the handshake')
        }
        step.payloads.push(frame.payload)
        return
      }
      default:
        throw new MalformedError('unexpected link state')
    }
  }

  private signingInput(role: LinkRole): Bytes {
    const hello = this.peerHello!
    const mine = this.ownHello()
    const dialer = this.options.role === LinkRole.dialer ? mine : hello
    const listener = this.options.role === LinkRole.dialer ? hello : mine
    const v2 = dialer.version === LINK_VERSION_DEVICES || listener.version === LINK_VERSION_DEVICES
    return linkSigningInput(role, {
      dialerNonce: dialer.nonce,
      listenerNonce: listener.nonce,
      dialerPublicKey: dialer.publicKey,
      listenerPublicKey: listener.publicKey,
      ...(v2
        ? { accounts: { dialer: helloAccount(dialer), listener: helloAccount(listener) } }
        : {}),
    })
  }
}
