// CloudStack's API error codes (ApiErrorCode.java: the HTTP status equals `errorcode`) and the
// cserrorcode of the Java exception behind each (developer guide's table, CSExceptionErrorCode).
export const API_ERROR = {
  UNAUTHORIZED: 401,
  METHOD_NOT_ALLOWED: 405,
  API_LIMIT_EXCEED: 429,
  MALFORMED_PARAMETER_ERROR: 430,
  PARAM_ERROR: 431,
  UNSUPPORTED_ACTION_ERROR: 432,
  INTERNAL_ERROR: 530,
  ACCOUNT_ERROR: 531,
  ACCOUNT_RESOURCE_LIMIT_ERROR: 532,
  INSUFFICIENT_CAPACITY_ERROR: 533,
  RESOURCE_UNAVAILABLE_ERROR: 534,
  RESOURCE_ALLOCATION_ERROR: 535,
  RESOURCE_IN_USE_ERROR: 536,
  NETWORK_RULE_CONFLICT_ERROR: 537,
} as const;

export type ApiErrorCode = (typeof API_ERROR)[keyof typeof API_ERROR];

/** cserrorcode values: 9999 ServerApiException, 4350 InvalidParameterValueException, ... */
export const CS_ERROR = {
  SERVER_API: 9999,
  INVALID_PARAMETER_VALUE: 4350,
  PERMISSION_DENIED: 4365,
  INSUFFICIENT_CAPACITY: 4325,
  CLOUD_RUNTIME: 4250,
  RESOURCE_UNAVAILABLE: 4390,
  CONCURRENT_OPERATION: 4300,
} as const;

/** The message ApiServer answers a bad signature, a missing key or an expired request with. */
export const UNAUTHORIZED_TEXT = 'unable to verify user credentials and/or request signature';
/** ApiServer.verifyRequest's answer to a command it does not know (432, key `errorresponse`). */
export const UNKNOWN_COMMAND_TEXT = 'The given command does not exist or it is not available for user';
