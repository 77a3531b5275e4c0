import type { DeliveryState } from './types.js'

/** Delivery states in the order a message moves through them; it never moves back. */
export const DELIVERY_STATES: readonly DeliveryState[] = [
  'pending',
  'sent',
  'stored',
  'delivered',
  'read',
]

/** The position of `state` in {@link DELIVERY_STATES}. */
export function stateRank(state: DeliveryState): number {
  return DELIVERY_STATES.indexOf(state)
}

/** The states a message may move to `state` from (every earlier one). */
export function statesBefore(state: DeliveryState): DeliveryState[] {
  return DELIVERY_STATES.slice(0, Math.max(0, stateRank(state)))
}
