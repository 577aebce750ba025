// The OpenNebula XML-RPC client: wire encoding, the error model, document schemas, typed calls.
export { encodeCall, decodeResponse, encodeResponse, encodeFault, escapeXml, XmlRpcFault, XmlRpcShapeError, type XmlRpcParam, type XmlRpcValue } from './xmlrpc.js';
export { OneError, ONE_ERROR_CODES, oneErrorName, kindOfOneError, type OneErrorName } from './errors.js';
export { OneRpc, parseEndpoint, checkOneResponse } from './rpc.js';
export { OneClient, MAX_LOGIN_TOKENS, TOKEN_VALID_S, REVOKE_OP as REVOKE_OP_NAME, templateText as oneTemplateText, templateValue as oneTemplateValue, type OneClientOptions } from './api.js';
export * from './schemas.js';
