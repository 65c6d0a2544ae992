/**
 * A stand-in for the Lambda event source mapping (ESM) on a DynamoDB stream, for the end-to-end
 * test and the sustained-load benchmark (scripts/bench-apply.ts): it imitates the documented behaviour with the stack's settings, and nothing of the
 * pipeline's own logic. One shard (parallelization factor 1), so one batch at a time, in order.
 *
 * - Filtering: records that match none of the filter patterns are dropped before batching (Lambda
 *   counts them as processed). Patterns are the subset the stack uses: `{"field": [values]}`,
 *   nested objects for nested fields.
 * - Batching: a batch closes when it holds `batchSize` records or when `batchingWindowSeconds`
 *   have passed since its first record arrived. Time is the caller's: records are appended with a
 *   time in milliseconds, and `deliverDue(now)` delivers what is due at that time (no sleeping);
 *   the test simulates it, the benchmark passes the clock's.
 * - ReportBatchItemFailures: the records before the reported sequence number are done; the batch
 *   is retried from it. A failure naming no record of the batch fails the whole batch.
 * - Function error (the invocation rejects): with bisect on, the batch is split in two halves and
 *   each is retried on its own (splitting does not use up a retry); a single record is retried.
 * - After `maximumRetryAttempts` retries (-1: until the records expire, not modelled) the records
 *   still failing go to the dead-letter list (standing in for the SQS on-failure destination,
 *   whose message names the batch: first/last sequence number, size) and the shard moves on.
 * Not modelled: the 6 MB payload limit, record age (maximumRecordAgeInSeconds), tumbling windows.
 */

/** Lambda's ReportBatchItemFailures response. */
export interface BatchResponse {
  batchItemFailures?: { itemIdentifier?: string | null }[];
}

/** The mapping settings the poller follows (from the synthesized aws_lambda_event_source_mapping). */
export interface EventSourceMappingSettings {
  readonly batchSize: number;
  readonly batchingWindowSeconds: number;
  readonly bisectBatchOnFunctionError: boolean;
  readonly maximumRetryAttempts: number;
  readonly reportBatchItemFailures: boolean;
  /** filter_criteria patterns (a record passes if it matches any; no patterns: every record). */
  readonly filterPatterns: readonly Record<string, unknown>[];
}

/** What the dead-letter list receives for records that exhausted their retries. */
export interface DeadLetter {
  readonly condition: "RetryAttemptsExhausted";
  readonly startSequenceNumber: string;
  readonly endSequenceNumber: string;
  readonly batchSize: number;
  /** Invocations of these records, first one included. */
  readonly approximateInvokeCount: number;
  /** The records themselves (the real destination gets only the range; kept for assertions). */
  readonly records: readonly unknown[];
}

export interface PollerStats {
  /** Batches read from the stream (retries and halves not counted). */
  batches: number;
  /** Invocations of the function, retries and halves included. */
  invocations: number;
  /** Records dropped by the filter. */
  filtered: number;
  /** Invocations that returned batch item failures. */
  partialFailures: number;
  /** Invocations that rejected (function errors). */
  functionErrors: number;
}

type Invoke = (event: { Records: unknown[] }) => Promise<BatchResponse | null | undefined>;

const sequenceNumberOf = (record: unknown): string => String((record as { dynamodb?: { SequenceNumber?: unknown } })?.dynamodb?.SequenceNumber ?? "");

/** Whether a record matches one filter pattern (exact values in arrays, nested objects). */
export function matchesPattern(pattern: Record<string, unknown>, value: unknown): boolean {
  return Object.entries(pattern).every(([field, rule]) => {
    const actual = typeof value === "object" && value !== null ? (value as Record<string, unknown>)[field] : undefined;
    if (Array.isArray(rule)) {
      if (rule.some((allowed) => typeof allowed === "object" && allowed !== null)) {
        throw new Error(`filter rule ${JSON.stringify(rule)} uses an operator this poller does not implement`);
      }
      return rule.includes(actual as never);
    }
    if (typeof rule === "object" && rule !== null) return matchesPattern(rule as Record<string, unknown>, actual);
    throw new Error(`filter rule for ${field} must be an array or an object, got ${JSON.stringify(rule)}`);
  });
}

export class StreamPoller {
  readonly deadLetters: DeadLetter[] = [];
  readonly stats: PollerStats = { batches: 0, invocations: 0, filtered: 0, partialFailures: 0, functionErrors: 0 };
  /** Records not yet read into a batch, with their arrival time (ms, simulated). */
  private readonly shard: { record: unknown; at: number }[] = [];

  constructor(
    private readonly settings: EventSourceMappingSettings,
    private readonly invoke: Invoke,
  ) {}

  /** Records written to the stream at simulated time `at` (ms); filtered as the mapping does. */
  append(records: readonly unknown[], at: number): void {
    const last = this.shard[this.shard.length - 1];
    if (last !== undefined && at < last.at) throw new Error(`records appended at ${at} ms, before the last ones (${last.at} ms)`);
    for (const record of records) {
      const { filterPatterns } = this.settings;
      if (filterPatterns.length > 0 && !filterPatterns.some((pattern) => matchesPattern(pattern, record))) {
        this.stats.filtered += 1;
      } else this.shard.push({ record, at });
    }
  }

  /** Records waiting in the stream. */
  get pending(): number {
    return this.shard.length;
  }

  /** When the next batch is due (ms, simulated), or undefined if the stream is empty. */
  nextDue(): number | undefined {
    const first = this.shard[0];
    if (first === undefined) return undefined;
    const full = this.shard[this.settings.batchSize - 1];
    const windowEnds = first.at + this.settings.batchingWindowSeconds * 1000;
    return full === undefined ? windowEnds : Math.min(full.at, windowEnds);
  }

  /** Delivers, one after the other, every batch that is due at simulated time `now`; returns how many. */
  async deliverDue(now: number): Promise<number> {
    let delivered = 0;
    for (let due = this.nextDue(); due !== undefined && due <= now; due = this.nextDue()) {
      // The records that had arrived when the batch closed (the stream is in arrival order).
      let size = 0;
      while (size < this.settings.batchSize && size < this.shard.length && this.shard[size]!.at <= due) size += 1;
      const batch = this.shard.splice(0, size);
      this.stats.batches += 1;
      await this.deliver(batch.map((entry) => entry.record));
      delivered += 1;
    }
    return delivered;
  }

  /** Delivers everything in the stream, however long the windows (a drain at the end of a test). */
  async deliverAll(): Promise<number> {
    return this.deliverDue(Number.POSITIVE_INFINITY);
  }

  /** One batch through invocations, retries, bisection and the dead-letter list. */
  private async deliver(batch: unknown[]): Promise<void> {
    const work: { records: unknown[]; retries: number; invocations: number }[] = [{ records: batch, retries: 0, invocations: 0 }];
    while (work.length > 0) {
      const item = work.shift()!;
      item.invocations += 1;
      this.stats.invocations += 1;
      let failedFrom: number; // index of the first record to retry
      try {
        const response = await this.invoke({ Records: item.records });
        const failures = this.settings.reportBatchItemFailures ? (response?.batchItemFailures ?? []) : [];
        if (failures.length === 0) continue;
        this.stats.partialFailures += 1;
        // Lambda retries from the lowest reported sequence number; an unknown one fails the batch.
        const indexes = failures.map((failure) => item.records.findIndex((record) => sequenceNumberOf(record) === failure.itemIdentifier));
        failedFrom = indexes.includes(-1) ? 0 : Math.min(...indexes);
      } catch {
        this.stats.functionErrors += 1;
        if (this.settings.bisectBatchOnFunctionError && item.records.length > 1) {
          const half = Math.ceil(item.records.length / 2);
          work.unshift(
            { records: item.records.slice(0, half), retries: item.retries, invocations: item.invocations },
            { records: item.records.slice(half), retries: item.retries, invocations: item.invocations },
          );
          continue;
        }
        failedFrom = 0;
      }
      const remaining = item.records.slice(failedFrom);
      const { maximumRetryAttempts } = this.settings;
      if (maximumRetryAttempts !== -1 && item.retries >= maximumRetryAttempts) {
        this.deadLetters.push({
          condition: "RetryAttemptsExhausted",
          startSequenceNumber: sequenceNumberOf(remaining[0]),
          endSequenceNumber: sequenceNumberOf(remaining[remaining.length - 1]),
          batchSize: remaining.length,
          approximateInvokeCount: item.invocations,
          records: remaining,
        });
        continue;
      }
      work.unshift({ records: remaining, retries: item.retries + 1, invocations: item.invocations });
    }
  }
}
