// Keys of the current Compose Spec that the packaged schema (an older draft) lacks, added so real files validate; fleet's key table then decides on each.
type Schema = Record<string, unknown>;

const str = { type: 'string' };
const bool = { type: 'boolean' };
const listOrDict = { $ref: '#/definitions/list_or_dict' };
const anything = {};
const duration = { type: 'string', format: 'duration' };

/** Service keys of the current spec, absent from the packaged draft. */
const SERVICE_KEYS: Schema = {
  annotations: listOrDict,
  attach: bool,
  cgroup: str,
  develop: anything,
  gpus: anything,
  label_file: anything,
  mem_reservation: { type: ['string', 'integer'] },
  post_start: { type: 'array' },
  pre_stop: { type: 'array' },
  provider: anything,
  models: anything,
  use_api_socket: bool,
  uts: str,
  env_file: {
    oneOf: [
      str,
      {
        type: 'array',
        items: {
          oneOf: [
            str,
            {
              type: 'object',
              properties: { path: str, required: bool, format: str },
              required: ['path'],
              additionalProperties: false,
            },
          ],
        },
      },
    ],
  },
};

/** Adds the newer keys in place and returns the schema. */
export function patchSchema(schema: Schema): Schema {
  const props = obj(schema, 'properties');
  props.name = { type: 'string', pattern: '^[a-z0-9][a-z0-9_-]*$' };
  props.include = { type: 'array' };
  props.models = { type: 'object' };
  const defs = obj(schema, 'definitions');
  const service = obj(obj(defs, 'service'), 'properties');
  Object.assign(service, SERVICE_KEYS);
  patchServiceParts(service);
  obj(obj(defs, 'healthcheck'), 'properties').start_interval = duration;
  const limits = obj(
    obj(obj(obj(obj(defs, 'deployment'), 'properties'), 'resources'), 'properties'),
    'limits',
  );
  obj(limits, 'properties').pids = { type: 'integer' };
  Object.assign(obj(obj(defs, 'secret'), 'properties'), { environment: str });
  Object.assign(obj(obj(defs, 'config'), 'properties'), { environment: str, content: str });
  return schema;
}

function patchServiceParts(service: Schema): void {
  // depends_on's long form: `required` and `restart`, and `condition` may be left out.
  const dependsLong = branch(service.depends_on, 1);
  const entry = obj(obj(dependsLong, 'patternProperties'), '^[a-zA-Z0-9._-]+$');
  Object.assign(obj(entry, 'properties'), { required: bool, restart: bool });
  delete entry.required;
  // Long-syntax ports: a name, an application protocol, and a published port as a string (a range).
  const portLong = branch(obj(service.ports as Schema, 'items'), 2);
  Object.assign(obj(portLong, 'properties'), {
    name: str,
    app_protocol: str,
    published: { type: ['string', 'integer'] },
  });
  // Long-syntax volumes: a sub-path of a volume, a tmpfs mode, SELinux relabelling of a bind.
  const volumeLong = branch(obj(service.volumes as Schema, 'items'), 1);
  const parts = obj(volumeLong, 'properties');
  obj(obj(parts, 'volume'), 'properties').subpath = str;
  obj(obj(parts, 'tmpfs'), 'properties').mode = { type: ['string', 'number'] };
  obj(obj(parts, 'bind'), 'properties').selinux = str;
}

/** schema[key] as an object, created empty when missing. */
function obj(schema: Schema, key: string): Schema {
  const v = schema[key];
  if (typeof v === 'object' && v !== null && !Array.isArray(v)) return v as Schema;
  const made: Schema = {};
  schema[key] = made;
  return made;
}

/** The n-th branch of a oneOf. */
function branch(schema: unknown, n: number): Schema {
  const one = (schema as { oneOf?: Schema[] } | undefined)?.oneOf?.[n];
  if (!one) throw new Error(`the packaged Compose schema changed shape (oneOf branch ${n})`);
  return one;
}
