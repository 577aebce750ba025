// The instrumented HTTP transport (I/O: loads node:http). Import it from here, never through
export { parseResponseHead } from './raw-get.js';
// adapters/index.ts, which stays free of I/O. The senders and body preparation are internal.
export { CallRecorder, type CallRecord } from './records.js';
export {
  ConnectionError,
  HttpError,
  ResponseLengthError,
  ResponseShapeError,
  controlErrorKind,
  describeCause,
  isRetryableNetworkError,
  toControlError,
} from './errors.js';
export { DEFAULT_RETRY, NO_RETRY, backoffDelayMs, isRetryableStatus, type RetryPolicy } from './retry.js';
export { buildUrl, expandPath, type RangeSpec, type RequestBody, type RequestSpec } from './request.js';
export { Transport, type BufferedResponse, type StreamedResponse, type TransportOptions } from './transport.js';
