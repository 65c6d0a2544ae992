/**
 * METRICS_NAMESPACE: where the function's embedded-metric-format records go (the stack sets it to its
 * own namespace). Unset or empty turns the metrics off; read once per container, beside config.ts.
 */

type Env = Readonly<Record<string, string | undefined>>;

/** The namespace, or undefined when metrics are off; throws an error naming the variable when it is invalid. */
export function loadMetricsNamespace(env: Env): string | undefined {
  const namespace = env.METRICS_NAMESPACE;
  if (namespace === undefined || namespace === "") return undefined;
  // CloudWatch namespaces: 1-255 characters, not starting with ':'; AWS/ is reserved for AWS services.
  if (namespace.length > 255 || namespace.startsWith(":") || namespace.startsWith("AWS/") || !/^[\u0020-\u007e]+$/.test(namespace)) {
    throw new Error(
      `change-trigger: environment variable METRICS_NAMESPACE=${JSON.stringify(namespace)} is invalid: expected a CloudWatch namespace (1-255 printable ASCII characters, not starting with ':' or 'AWS/'), or empty for no metrics`,
    );
  }
  return namespace;
}
