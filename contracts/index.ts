/**
 * The values the stack, the change-trigger function, ops/ and the Glue jobs must agree on. Nothing
 * here imports anything of the project, so that every layer may import it.
 */
export { BUCKET_LAYOUT } from "./bucket-layout";
export {
  APPLY_DIMENSION,
  APPLY_METRICS,
  type ApplyMetricName,
  metricsNamespace,
  RESTORE_DRILL_METRICS,
  TRIGGER_DIMENSION,
  TRIGGER_METRICS,
  type TriggerMetricName,
  VERIFY_METRICS,
} from "./metrics";
export { RESTORE_DRILL_INFIX, RESTORE_TARGET_SUFFIX } from "./restore-targets";
