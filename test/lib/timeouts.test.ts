import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { InProcessDeathPenalty, JobTimeoutException, TimerDeathPenalty, parseTimeout } from '../../lib/index.js';

const THIRTY_DAYS = 30 * 86400;

describe('death penalties: timeouts past setTimeout\'s limit', () => {
  // Node fires a setTimeout longer than 2^31 - 1 ms (24.8 days) after 1 ms: a 30-day timeout must not.
  for (const Penalty of [TimerDeathPenalty, InProcessDeathPenalty]) {
    it(`${Penalty.name}: a job with a 30-day timeout runs to its end`, async () => {
      const penalty = new Penalty(THIRTY_DAYS, JobTimeoutException, { jobId: 'long' });
      let stopped = false;
      const value = await penalty.run(
        () => new Promise((resolve) => setTimeout(() => resolve('done'), 30)),
        () => (stopped = true),
      );
      assert.equal(value, 'done');
      assert.equal(stopped, false, 'the penalty did not fire');
    });
  }

  it('a short timeout still fires', async () => {
    const penalty = new TimerDeathPenalty(1, JobTimeoutException, { jobId: 'short' });
    let stopped = false;
    await assert.rejects(
      penalty.run(
        () => new Promise(() => {}),
        () => (stopped = true),
      ),
      /Task exceeded maximum timeout value \(1 seconds\)/,
    );
    assert.equal(stopped, true);
  });

  it('parseTimeout refuses more than 1e9 seconds with the reason', () => {
    assert.equal(parseTimeout('1000000000'), 1e9);
    assert.throws(() => parseTimeout('99999999999999999999'), /more than 1000000000 seconds/);
  });
});
