import { ProtocolAddress } from '@signalapp/libsignal-client'
import type { SignalAddress } from '../../core/signal/signal-address.js'

/** libsignal's form of an address. */
export function toProtocolAddress(address: SignalAddress): ProtocolAddress {
  return ProtocolAddress.new(address.name, address.deviceId)
}

/** An address from libsignal's form. */
export function fromProtocolAddress(address: ProtocolAddress): SignalAddress {
  return { name: address.name(), deviceId: address.deviceId() }
}
