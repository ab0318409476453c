// What a workflow needs to know about flowbridge: the event envelope it hands over and the
// signal dedup rule. Deterministic, so workflow code may import it.

/**
 * The CloudEvent that started or signalled a workflow, as flowbridge hands it over: the
 * argument of every signal, and a start's input unless the route says `args` or `input`.
 * Absent fields were empty; `data` is the event's JSON data as it was published.
 */
export interface FlowbridgeEvent<D = unknown> {
  id: string;
  type: string;
  source: string;
  subject?: string;
  time?: string; // RFC 3339
  correlation_id?: string; // the event's correlationid extension, else its id
  data?: D;
}

/**
 * SignalInbox drops a signal whose event it has seen. flowbridge delivers an event at least
 * once (a redelivery, a `bridge dlq replay`), and every signal it sends carries the event's
 * id, so a workflow that checks it acts on each event once.
 */
export class SignalInbox {
  private readonly seen = new Set<string>();

  /** accept reports whether ev is new, and remembers it. */
  accept(ev: FlowbridgeEvent): boolean {
    if (this.seen.has(ev.id)) {
      return false;
    }
    this.seen.add(ev.id);
    return true;
  }
}
