/** The OpenAPI 3.1 description of `omlmd serve`, served at /openapi.json. */
export const NOTIFICATION_MEDIA_TYPE = 'application/vnd.docker.distribution.events.v1+json';

export function openApiDocument(version: string): Record<string, unknown> {
  const error = {
    type: 'object',
    properties: {
      error: {
        type: 'object',
        required: ['code', 'message'],
        properties: {
          code: { type: 'string', examples: ['INVALID_QUERY', 'UNAUTHORIZED', 'NOT_FOUND'] },
          message: { type: 'string' },
          position: { type: 'integer', description: 'For INVALID_QUERY: 0-based offset of the offending spot in the query.' },
          query: { type: 'string' },
        },
      },
    },
  };
  const errorResponse = (description: string) => ({ description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } });
  const searchParams = [
    { name: 'q', in: 'query', required: false, schema: { type: 'string', default: '$[*]' }, description: "RFC 9535 JSONPath selecting documents, e.g. `$[?@.customProperties.accuracy > 0.9 && @.model_format_name == 'onnx']`, or the bare filter." },
    { name: 'sort', in: 'query', required: false, schema: { type: 'string' }, description: 'Field to sort by: `customProperties.accuracy` or a singular JSONPath `@.a["b-c"]`. Numbers before strings; missing last.' },
    { name: 'order', in: 'query', required: false, schema: { type: 'string', enum: ['asc', 'desc'], default: 'asc' } },
    { name: 'limit', in: 'query', required: false, schema: { type: 'integer', minimum: 0, maximum: 1000, default: 100 } },
    { name: 'offset', in: 'query', required: false, schema: { type: 'integer', minimum: 0, default: 0 } },
  ];
  const page = { description: 'One page of matches, in order.', content: { 'application/json': { schema: { $ref: '#/components/schemas/SearchPage' } } } };
  return {
    openapi: '3.1.0',
    info: {
      title: 'omlmd search server',
      version,
      description: 'Finds model artifacts by their metadata. The index is kept fresh from the registry\'s notifications and repaired by periodic re-crawls.',
    },
    components: {
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer', description: 'When the server runs with a token, every endpoint but /healthz and /openapi.json needs it.' } },
      schemas: {
        Error: error,
        Document: {
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
            kind: { type: 'string', enum: ['omlmd', 'omlmd-0.1', 'modelpack', 'kitops'] },
            mediaType: { type: 'string' },
            artifactType: { type: ['string', 'null'] },
            created: { type: ['string', 'null'] },
            annotations: { type: 'object', additionalProperties: { type: 'string' } },
            size: { type: 'integer' },
            files: { type: 'array', items: { type: 'object', properties: { path: { type: 'string' }, mediaType: { type: 'string' }, size: { type: 'integer' } } } },
            name: { type: ['string', 'null'] },
            customProperties: { type: ['object', 'null'] },
            model_format_name: { type: ['string', 'null'] },
          },
          additionalProperties: true,
        },
        SearchPage: {
          type: 'object',
          required: ['items', 'offset'],
          properties: {
            items: { type: 'array', items: { $ref: '#/components/schemas/Document' } },
            offset: { type: 'integer' },
            next: { type: 'integer', description: 'Offset of the next page; absent on the last page.' },
          },
        },
        SearchRequest: {
          type: 'object',
          properties: {
            query: { type: 'string' },
            sort: { type: 'string' },
            order: { type: 'string', enum: ['asc', 'desc'] },
            limit: { type: 'integer', minimum: 0, maximum: 1000 },
            offset: { type: 'integer', minimum: 0 },
          },
        },
        Envelope: {
          type: 'object',
          description: "distribution's notification envelope.",
          required: ['events'],
          properties: { events: { type: 'array', items: { type: 'object', required: ['action', 'target'], properties: { action: { type: 'string' }, target: { type: 'object' } } } } },
        },
      },
    },
    security: [{ bearer: [] }],
    paths: {
      '/healthz': {
        get: {
          summary: 'Liveness and index size',
          security: [],
          responses: { 200: { description: 'Up', content: { 'application/json': { schema: { type: 'object', properties: { status: { const: 'ok' }, index: { type: 'string' }, documents: { type: 'integer' } } } } } } },
        },
      },
      '/openapi.json': { get: { summary: 'This description', security: [], responses: { 200: { description: 'OpenAPI 3.1' } } } },
      '/api/v1/search': {
        get: { summary: 'Search documents with a JSONPath filter', parameters: searchParams, responses: { 200: page, 400: errorResponse('The query is invalid (code INVALID_QUERY, with position) or a parameter is'), 401: errorResponse('Token missing or wrong') } },
        post: {
          summary: 'Search, with the query in the body',
          requestBody: { content: { 'application/json': { schema: { $ref: '#/components/schemas/SearchRequest' } } } },
          responses: { 200: page, 400: errorResponse('Invalid query or body'), 401: errorResponse('Token missing or wrong') },
        },
      },
      '/api/v1/artifacts/{reference}': {
        get: {
          summary: "One artifact's document",
          parameters: [{ name: 'reference', in: 'path', required: true, schema: { type: 'string' }, description: 'registry/repository:tag, slashes kept, e.g. /api/v1/artifacts/localhost:5000/models/mnist:v1' }],
          responses: { 200: { description: 'The document', content: { 'application/json': { schema: { $ref: '#/components/schemas/Document' } } } }, 404: errorResponse('Not indexed') },
        },
      },
      '/api/v1/crawl': {
        post: { summary: 'Start a full re-crawl of the configured registries now', responses: { 202: { description: 'Started (or already running)' } } },
        get: { summary: 'The last re-crawl report', responses: { 200: { description: 'Report' } } },
      },
      '/notifications': {
        post: {
          summary: "Endpoint for the registry's notifications",
          description: 'Configure distribution with `notifications.endpoints[].url` pointing here (and `headers: {Authorization: [Bearer TOKEN]}` when protected). Pushes of model artifacts are indexed, deletes removed; actions run afterwards.',
          requestBody: { content: { [NOTIFICATION_MEDIA_TYPE]: { schema: { $ref: '#/components/schemas/Envelope' } } } },
          responses: { 202: { description: 'Accepted; indexing follows at once' }, 400: errorResponse('Not an envelope'), 415: errorResponse('Wrong Content-Type') },
        },
      },
    },
  };
}
