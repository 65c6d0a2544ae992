/**
 * A CloudWatch metric alarm on one metric with a static threshold, as aws_cloudwatch_metric_alarm
 * declares it, evaluated against PutMetricData datums the way the CloudWatch User Guide describes it:
 * a test can then say when an alarm as synthesized reaches ALARM on what the code really published.
 *
 * "Evaluating an alarm" and "How alarm state is evaluated when data is missing"
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html#alarm-evaluation):
 * - each Period gives one datapoint, the statistic of the metric over it;
 * - Evaluation Periods (N) is the number of most recent periods (datapoints) evaluated, Datapoints to
 *   Alarm (M, N when not set) how many of them must breach for ALARM ("M out of N"); they need not be
 *   consecutive;
 * - CloudWatch retrieves more periods than N (the evaluation range). With at least N datapoints in it,
 *   the N most recent existing ones are evaluated and treat_missing_data does not matter; with fewer,
 *   the missing ones are filled in as treat_missing_data says, as few as possible. ALARM when at least
 *   M of the N breach, else OK; with no datapoint at all, `missing` is INSUFFICIENT_DATA and `ignore`
 *   keeps the state.
 * "Alarm evaluation windows" (https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/alarm-evaluation-window.html):
 * the default (Terraform sets none) is a sliding window that advances each time the alarm is evaluated.
 *
 * Not given as numbers there, and chosen here: the alarm is evaluated at every whole minute; the
 * evaluation range is N + 2 periods (the guide's example retrieves 5 for N = 3); a datum counts in the
 * minute of its timestamp (standard resolution) from that minute's end. Fewer than N datapoints under
 * `missing` or `ignore` is not modelled (an error), nor are metric math, percentiles and anomaly bands.
 */

/** The members of an aws_cloudwatch_metric_alarm the evaluation reads. */
export interface MetricAlarm {
  readonly namespace: string;
  readonly metric_name: string;
  readonly dimensions?: Readonly<Record<string, string>>;
  readonly statistic: string;
  readonly period: number;
  readonly evaluation_periods: number;
  readonly datapoints_to_alarm?: number;
  readonly threshold: number;
  readonly comparison_operator: string;
  readonly treat_missing_data?: string;
}

/** A PutMetricData datum with its request's namespace; timestamp in epoch milliseconds. */
export interface Datum {
  readonly namespace: string;
  readonly metricName: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly timestamp: number;
  readonly value?: number;
  readonly statisticValues?: { readonly SampleCount: number; readonly Sum: number; readonly Minimum: number; readonly Maximum: number };
}

export type AlarmState = "OK" | "ALARM" | "INSUFFICIENT_DATA";

export interface Evaluation {
  /** The evaluation's time (epoch ms, a whole minute). */
  readonly at: number;
  readonly state: AlarmState;
  /** The N values evaluated, oldest first (undefined: a missing datapoint filled in). */
  readonly evaluated: (number | undefined)[];
}

const MINUTE = 60_000;

const COMPARISONS: Record<string, (value: number, threshold: number) => boolean> = {
  GreaterThanOrEqualToThreshold: (v, t) => v >= t,
  GreaterThanThreshold: (v, t) => v > t,
  LessThanThreshold: (v, t) => v < t,
  LessThanOrEqualToThreshold: (v, t) => v <= t,
};

/** The alarm's statistic over the datums of one period (undefined: none). */
function statistic(name: string, datums: readonly Datum[]): number | undefined {
  if (datums.length === 0) return undefined;
  const sets = datums.map((d) => d.statisticValues ?? { SampleCount: 1, Sum: d.value!, Minimum: d.value!, Maximum: d.value! });
  const count = sets.reduce((n, s) => n + s.SampleCount, 0);
  const sum = sets.reduce((n, s) => n + s.Sum, 0);
  switch (name) {
    case "Maximum":
      return Math.max(...sets.map((s) => s.Maximum));
    case "Minimum":
      return Math.min(...sets.map((s) => s.Minimum));
    case "Sum":
      return sum;
    case "SampleCount":
      return count;
    case "Average":
      return sum / count;
    default:
      throw new Error(`statistic ${name} is not modelled`);
  }
}

/** Whether a datum is of the alarm's metric: same namespace, name and exactly the same dimensions. */
function ofMetric(alarm: MetricAlarm, datum: Datum): boolean {
  const wanted = Object.entries(alarm.dimensions ?? {}).sort();
  const given = Object.entries(datum.dimensions).sort();
  return datum.namespace === alarm.namespace && datum.metricName === alarm.metric_name && JSON.stringify(wanted) === JSON.stringify(given);
}

/**
 * The alarm's state at every whole minute from `from` to `to` (epoch ms), starting from `initial`
 * (what `ignore` keeps).
 */
export function evaluateAlarm(alarm: MetricAlarm, datums: readonly Datum[], from: number, to: number, initial: AlarmState = "INSUFFICIENT_DATA"): Evaluation[] {
  const compare = COMPARISONS[alarm.comparison_operator];
  if (compare === undefined) throw new Error(`comparison ${alarm.comparison_operator} is not modelled`);
  const periodMs = alarm.period * 1000;
  const n = alarm.evaluation_periods;
  const m = alarm.datapoints_to_alarm ?? n;
  const missing = alarm.treat_missing_data ?? "missing";
  const mine = datums.filter((d) => ofMetric(alarm, d)).map((d) => ({ ...d, minute: Math.floor(d.timestamp / MINUTE) * MINUTE }));
  const evaluations: Evaluation[] = [];
  let state = initial;
  for (let at = Math.ceil(from / MINUTE) * MINUTE; at <= to; at += MINUTE) {
    // The evaluation range, most recent period first: period k covers [at - k·P, at - (k-1)·P).
    const range = Array.from({ length: n + 2 }, (_, k) => statistic(alarm.statistic, mine.filter((d) => d.minute < at - k * periodMs && d.minute >= at - (k + 1) * periodMs)));
    const existing = range.filter((v): v is number => v !== undefined);
    let evaluated: (number | undefined)[];
    let breaching: number;
    if (existing.length >= n) {
      evaluated = existing.slice(0, n);
      breaching = evaluated.filter((v) => compare(v!, alarm.threshold)).length;
    } else if (existing.length === 0 && (missing === "missing" || missing === "ignore")) {
      evaluations.push({ at, state: (state = missing === "missing" ? "INSUFFICIENT_DATA" : state), evaluated: [] });
      continue;
    } else if (missing === "notBreaching" || missing === "breaching") {
      const filled = n - existing.length;
      evaluated = [...existing, ...Array<undefined>(filled).fill(undefined)];
      breaching = existing.filter((v) => compare(v, alarm.threshold)).length + (missing === "breaching" ? filled : 0);
    } else {
      throw new Error(`fewer than ${n} datapoints with treat_missing_data ${missing} is not modelled`);
    }
    state = breaching >= m ? "ALARM" : "OK";
    evaluations.push({ at, state, evaluated: evaluated.reverse() });
  }
  return evaluations;
}

/**
 * The datums of PutMetricData request bodies, as botocore's query protocol sends them (decoded by the
 * glue-job tests' CloudWatch stand-in): Namespace, MetricData[] with MetricName, Dimensions[] of
 * Name/Value, Timestamp, Value or StatisticValues.
 */
export function datumsOf(bodies: readonly Record<string, any>[]): Datum[] {
  return bodies.flatMap((body) =>
    (body.MetricData as Record<string, any>[]).map((datum) => ({
      namespace: body.Namespace as string,
      metricName: datum.MetricName as string,
      dimensions: Object.fromEntries(((datum.Dimensions ?? []) as { Name: string; Value: string }[]).map((d) => [d.Name, d.Value])),
      timestamp: Date.parse(datum.Timestamp as string),
      ...(datum.Value !== undefined ? { value: Number(datum.Value) } : {}),
      ...(datum.StatisticValues !== undefined ? { statisticValues: datum.StatisticValues } : {}),
    })),
  );
}
