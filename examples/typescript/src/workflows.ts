import { ApplicationFailure, condition, defineQuery, defineSignal, setHandler } from '@temporalio/workflow';
import { FlowbridgeEvent, SignalInbox } from './flowbridge';

/** The signal flowbridge sends for email.verified (routes: `signal: emailVerified`). */
export const emailVerifiedSignal = defineSignal<[FlowbridgeEvent<{ user_id: string }>]>('emailVerified');

/** status: what the workflow waits for. */
export const statusQuery = defineQuery<string>('status');

export interface OnboardingResult {
  userId: string;
  email: string;
  verifiedBy: string; // the id of the email.verified event
  correlationId?: string;
}

/**
 * userOnboardingWorkflow takes two positional arguments, as a route's
 * `args: [data.user_id, data.email]` gives them, and waits for emailVerified.
 */
export async function userOnboardingWorkflow(userId: string, email: string): Promise<OnboardingResult> {
  if (typeof userId !== 'string' || userId === '' || typeof email !== 'string' || email === '') {
    throw ApplicationFailure.nonRetryable(`want (userId, email) strings, got (${JSON.stringify(userId)}, ${JSON.stringify(email)})`, 'InvalidInput');
  }
  const inbox = new SignalInbox();
  let verified: FlowbridgeEvent | undefined;
  setHandler(emailVerifiedSignal, (ev) => {
    if (!inbox.accept(ev) || ev.data?.user_id !== userId) {
      return; // seen before, or not about this user
    }
    verified = ev;
  });
  setHandler(statusQuery, () => (verified ? 'verified' : `waiting for email.verified of ${userId}`));
  await condition(() => verified !== undefined);
  return { userId, email, verifiedBy: verified!.id, correlationId: verified!.correlation_id };
}
