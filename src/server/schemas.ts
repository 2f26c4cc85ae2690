/**
 * The JSON Schemas of `omlmd serve`'s requests and responses. The routes validate requests
 * with them and @fastify/swagger generates /openapi.json from them, so the description and
 * the server cannot drift apart.
 */
export const NOTIFICATION_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export const MAX_LIMIT = 1000;

/** Shared schemas, added to the app by `$id`; they become the document's `components.schemas`. */
export const SHARED_SCHEMAS = [
  {
    $id: 'Error',
    type: 'object',
    required: ['error'],
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', examples: ['INVALID_QUERY', 'UNAUTHORIZED', 'NOT_FOUND', 'USAGE'] },
          message: { type: 'string' },
          position: { type: 'integer', description: 'For INVALID_QUERY: 0-based offset of the offending spot in the query.' },
          query: { type: 'string' },
        },
      },
    },
  },
  {
    $id: 'Document',
    type: 'object',
    description: "An artifact's metadata (its config's fields) with where it is and what it is.",
    required: ['reference', 'registry', 'repository', 'tag', 'digest', 'kind', 'annotations', 'created'],
    properties: {
      reference: { type: 'string', examples: ['registry.example.com/models/mnist:v1'] },
      registry: { type: 'string' },
      repository: { type: 'string' },
      tag: { type: 'string' },
      digest: { type: 'string', pattern: '^sha256:[a-f0-9]{64}$' },
      manifestDigest: { type: 'string' },
      kind: { type: 'string', enum: ['omlmd', 'omlmd-0.1', 'modelpack', 'kitops', 'docker'] },
      mediaType: { type: 'string' },
      artifactType: { type: ['string', 'null'] },
      created: { type: ['string', 'null'] },
      annotations: { type: 'object', additionalProperties: { type: 'string' } },
      size: { type: 'integer' },
      files: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, mediaType: { type: 'string' }, size: { type: 'integer' } } } },
      name: { description: "The metadata's name, usually a string (a config may hold any JSON here)." },
      customProperties: { description: 'The metadata\'s custom properties, usually an object (a config may hold any JSON here).' },
      model_format_name: { description: 'Usually a string, e.g. onnx.' },
    },
    additionalProperties: true,
  },
  {
    $id: 'SearchPage',
    type: 'object',
    required: ['items', 'offset'],
    properties: {
      items: { type: 'array', items: { $ref: 'Document#' } },
      offset: { type: 'integer' },
      next: { type: 'integer', description: 'Offset of the next page; absent on the last page.' },
    },
  },
  {
    $id: 'CrawlStatus',
    type: 'object',
    description: 'The last full re-crawl: when it started and finished, and one report per registry; {} before the first.',
    properties: {
      started: { type: 'string', format: 'date-time' },
      finished: { type: 'string', format: 'date-time' },
      reports: { type: 'array', items: { type: 'object' } },
    },
  },
] as const;

const QUERY_TEXT = "RFC 9535 JSONPath selecting documents, e.g. `$[?@.customProperties.accuracy > 0.9 && @.model_format_name == 'onnx']`, or the bare filter.";
const SORT_TEXT = 'Field to sort by: `customProperties.accuracy` or a singular JSONPath `@.a["b-c"]`. Numbers before strings; missing last.';

/** The search parameters, as a query string (GET) or a JSON body (POST). An empty value means the default. */
const searchProperties = {
  // No `default` here: the validator would fill it in and hide a `query` given instead.
  q: { type: 'string', description: `${QUERY_TEXT} Default: every document, \`$[*]\`.` },
  query: { type: 'string', description: 'The same as q.' },
  sort: { type: 'string', description: SORT_TEXT },
  order: { type: 'string', enum: ['asc', 'desc'], default: 'asc' },
  limit: { type: 'integer', minimum: 0, maximum: MAX_LIMIT, default: 100 },
  offset: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER, default: 0 },
} as const;

const error = (description: string) => ({ description, $ref: 'Error#' });
const unauthorized = error('Token missing or wrong');
const forbidden = error("The other face's token: the notification token cannot search, the search token cannot send notifications");
/** Every route: a Host header that names no name of this server (DNS rebinding) is refused. */
const misdirected = error('The Host header names no name of this server');

export const ROUTE_SCHEMAS = {
  healthz: {
    summary: 'Liveness and index size',
    security: [],
    response: {
      200: {
        description: 'Up',
        type: 'object',
        required: ['status', 'index', 'documents', 'version'],
        properties: { status: { const: 'ok' }, index: { type: 'string' }, documents: { type: 'integer' }, version: { type: 'string' } },
      },
      421: misdirected,
    },
  },
  openapi: {
    summary: 'This description',
    security: [],
    response: { 200: { description: 'OpenAPI 3.1', type: 'object', required: ['openapi', 'info', 'paths'], properties: { openapi: { type: 'string' }, info: { type: 'object' }, paths: { type: 'object' } } }, 421: misdirected },
  },
  searchGet: {
    summary: 'Search documents with a JSONPath filter',
    querystring: { type: 'object', properties: searchProperties },
    response: { 200: { description: 'One page of matches, in order.', $ref: 'SearchPage#' }, 400: error('The query is invalid (code INVALID_QUERY, with position) or a parameter is'), 401: unauthorized, 403: forbidden, 421: misdirected },
  },
  searchPost: {
    summary: 'Search, with the query in the body',
    body: { type: 'object', description: 'The parameters of GET /api/v1/search; an empty body is {}.', properties: searchProperties },
    response: { 200: { description: 'One page of matches, in order.', $ref: 'SearchPage#' }, 400: error('Invalid query or body'), 401: unauthorized, 403: forbidden, 413: error('The body is larger than 1 MiB'), 421: misdirected },
  },
  artifact: {
    summary: "One artifact's document",
    params: {
      type: 'object',
      required: ['*'],
      properties: { '*': { type: 'string', description: 'registry/repository:tag, slashes kept, e.g. /api/v1/artifacts/localhost:5000/models/mnist:v1' } },
    },
    response: { 200: { description: 'The document', $ref: 'Document#' }, 400: error('Not valid percent-encoding'), 401: unauthorized, 404: error('Not indexed') },
  },
  crawlPost: {
    summary: 'Start a full re-crawl of the configured registries now',
    response: { 202: { description: 'Started (or already running)', type: 'object', properties: { started: { type: 'string', format: 'date-time' } } }, 401: unauthorized, 403: forbidden, 421: misdirected },
  },
  crawlGet: {
    summary: 'The last re-crawl report',
    response: { 200: { description: 'Report', $ref: 'CrawlStatus#' }, 401: unauthorized, 403: forbidden, 421: misdirected },
  },
  notifications: {
    summary: "Endpoint for the registry's notifications",
    description: "Configure distribution with `notifications.endpoints[].url` pointing here and `headers: {Authorization: [Bearer NOTIFY_TOKEN]}`: the server's notification token, never the search token. No event is taken on its word: a push's tag is resolved in the registry and what it names now is indexed (actions run only when that is the event's digest); a delete removes only what the registry answers 404 for.",
    security: [{ notify: [] }],
    consumes: [NOTIFICATION_MEDIA_TYPE, 'application/json'],
    body: {
      type: 'object',
      description: "distribution's notification envelope.",
      required: ['events'],
      properties: {
        events: {
          type: 'array',
          // Not constrained further: an event that is not an object with a string `action` and an object `target` is skipped, not refused.
          items: { description: 'A registry event: action (push, delete, pull, mount), target {mediaType, repository, tag, digest, url}, request {host}.' },
        },
      },
    },
    response: {
      202: { description: 'Accepted; indexing follows at once', type: 'object', required: ['accepted'], properties: { accepted: { type: 'integer', description: 'How many events were about a registry this server indexes.' } } },
      400: error('Not an envelope'),
      401: unauthorized,
      403: error('The search token, or the server takes no notifications (it has no notification token)'),
      413: error('The body is larger than 1 MiB'),
      415: error('Wrong Content-Type'),
      421: misdirected,
    },
  },
} as const;
