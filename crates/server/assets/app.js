// parachute settings page: reads and writes the server's JSON API (docs/api.md), polls status
// and pairing every 2 s while the tab is visible. No framework, no build step, no inline code
// (the Content-Security-Policy forbids it). Every value from the server is put into the page as
// text (textContent / value), never as HTML. Secrets are write-only: the API never sends them
// and the page clears what was typed once it is saved.
'use strict';

const POLL_MS = 2000;
const TOKEN_KEY = 'parachute.apiToken';
const CLIENT_HEADER = 'X-Parachute-Client';

const TRUST_LEVELS = [
  ['sandboxed', 'Sandboxed (conversation only)'],
  ['direct', 'Direct (may act on the vault)'],
];
const MENTION_MODES = [
  ['mention_only', 'Mentions, replies and commands only'],
  ['all_messages', 'Every message'],
];
const STREAM_MODES = [
  ['edit', 'Show the answer as it is written (one message, edited)'],
  ['off', 'Send the whole answer when it is done'],
];

/** Fields shared by every platform, after the platform's own. */
const COMMON_FIELDS = [
  { key: 'dm_trust_level', label: 'Trust level in direct messages', type: 'select', options: TRUST_LEVELS,
    help: 'Approved users may have their own level.' },
  { key: 'group_trust_level', label: 'Trust level in groups', type: 'select', options: TRUST_LEVELS },
  { key: 'group_mention_mode', label: 'Group messages answered', type: 'select', options: MENTION_MODES },
  { key: 'ack_emoji', label: 'Acknowledgement reaction', type: 'text', placeholder: '👀',
    help: 'Added to a message whose answer takes longer than a moment, removed after the reply. Empty for none.' },
  { key: 'stream', label: 'Streaming answers', type: 'select', options: STREAM_MODES,
    help: 'With a brain that streams (anthropic, openai, command), the first words appear at once and the message grows.' },
  { key: 'stream_edit_interval', label: 'Time between edits', type: 'text', placeholder: '1s',
    help: 'The shortest time between two edits of a growing answer in one chat (at least 250ms).' },
];

const ENABLED = { key: 'enabled', label: 'Enabled', type: 'checkbox',
  help: 'Saving this on starts the connector (and it starts with the server); saving it off stops it. Start and Stop act for now only.' };

/** Every config field of every platform, in the order shown. */
const PLATFORMS = [
  {
    id: 'telegram', title: 'Telegram', countLabel: 'allowed users',
    fields: [
      ENABLED,
      { key: 'bot_token', label: 'Bot token', type: 'secret', help: 'From @BotFather.' },
      { key: 'allowed_users', label: 'Allowed users', type: 'list', item: 'user',
        placeholder: '@username or 123456789',
        help: 'Answered in direct messages without pairing: numeric ids or @usernames.' },
      { key: 'allowed_groups', label: 'Allowed groups', type: 'list', item: 'group', placeholder: '-1001234567890',
        help: 'Group chat ids the bot talks in. Any other group it is added to waits for your approval under Pairing.' },
      ...COMMON_FIELDS,
    ],
  },
  {
    id: 'discord', title: 'Discord', countLabel: 'allowed users',
    fields: [
      ENABLED,
      { key: 'bot_token', label: 'Bot token', type: 'secret', help: 'From the developer portal (Bot → Token).' },
      { key: 'allowed_users', label: 'Allowed users', type: 'list', item: 'user', placeholder: '123456789012345678',
        help: 'Answered in direct messages without pairing: numeric user ids.' },
      { key: 'allowed_guilds', label: 'Allowed servers', type: 'list', item: 'server', placeholder: '123456789012345678',
        help: 'Server (guild) ids the bot talks in. Empty (and no allowed channels): every server it is in, open to everyone who can add it.' },
      { key: 'allowed_channels', label: 'Allowed channels', type: 'list', item: 'channel',
        placeholder: '123456789012345678',
        help: 'Channel or thread ids the bot talks in within servers. Empty: every channel.' },
      ...COMMON_FIELDS,
      { key: 'catch_up_max_age', label: 'Catch up after a restart', type: 'text', placeholder: '10m',
        help: 'Messages that arrived while the bot was down are answered if younger than this (90s, 10m, 1h), in channels where it has talked before.' },
    ],
  },
  {
    id: 'matrix', title: 'Matrix', countLabel: 'allowed rooms', signIn: true,
    fields: [
      ENABLED,
      { key: 'homeserver_url', label: 'Homeserver URL', type: 'url', placeholder: 'https://matrix.example.org' },
      { key: 'user_id', label: 'Bot user id', type: 'text', placeholder: '@parachute:example.org' },
      { key: 'access_token', label: 'Access token', type: 'secret', help: 'Access token of the bot’s device.' },
      { key: 'device_id', label: 'Device id', type: 'text', help: 'Optional: leave empty, the device is taken from the access token. When set it must be the token’s device.' },
      { key: 'recovery_key', label: 'Recovery key', type: 'secret', flag: 'has_recovery_key',
        help: 'Optional: the key `parachute matrix recovery enable` printed. A new device (lost store, new machine) gets the bot’s room keys back with it at start.' },
      { key: 'allowed_rooms', label: 'Allowed rooms', type: 'list', item: 'room', placeholder: '#lounge:example.org',
        help: 'Room ids (!id, or !id:server in rooms older than version 12) or aliases (#name:server). Empty: every room it is invited to, open to everyone. Other rooms wait for your approval under Pairing.' },
      ...COMMON_FIELDS,
      { key: 'catch_up_max_age', label: 'Catch up after a restart', type: 'text', placeholder: '10m',
        help: 'Messages that arrived while the bot was down are answered if younger than this (90s, 10m, 1h).' },
    ],
  },
];

const BRAIN_KINDS = [
  ['echo', 'Echo: repeats the message (no account needed)'],
  ['anthropic', 'Anthropic Messages API (Claude)'],
  ['openai', 'OpenAI-compatible chat completions'],
  ['command', 'A program on this machine (set in bots.yaml)'],
];

/** Sections without a connector: settings only. */
const SETTINGS = [
  {
    id: 'brain', title: 'Brain', settingsOnly: true,
    fields: [
      { key: 'kind', label: 'Kind', type: 'select', options: BRAIN_KINDS,
        help: 'Who writes the answers. A program (command) can only be chosen in bots.yaml.' },
      { key: 'model', label: 'Model', type: 'text', optional: true, placeholder: 'claude-sonnet-4-5',
        help: 'The model name the service expects.' },
      { key: 'api_key', label: 'API key', type: 'secret', flag: 'has_api_key',
        help: 'Sent to the service only. Changing the base URL asks for the key again.' },
      { key: 'base_url', label: 'Base URL', type: 'url', optional: true,
        placeholder: 'https://api.anthropic.com or http://127.0.0.1:8000/v1',
        help: 'Empty: the service’s own address. A local OpenAI-compatible server includes /v1.' },
      { key: 'system_prompt', label: 'System prompt', type: 'textarea', optional: true,
        help: 'Added to what the companion is told before every conversation.' },
      { key: 'timeout', label: 'Time for one answer', type: 'text', placeholder: '2m',
        help: 'How long one answer may take (90s, 2m).' },
      { key: 'max_tokens', label: 'Longest answer (tokens)', type: 'number' },
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// Small DOM helpers: elements are built with properties and text, never from HTML strings.

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    if (name === 'class') el.className = value;
    else if (name === 'text') el.textContent = value;
    else if (name.startsWith('on')) el.addEventListener(name.slice(2), value);
    else el.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child !== null && child !== undefined && child !== false) el.append(child);
  }
  return el;
}

const $ = (id) => document.getElementById(id);

function showResult(el, text, kind) {
  el.textContent = text;
  el.dataset.kind = kind || 'info';
}

function formatTime(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? String(iso) : date.toLocaleString();
}

function formatSeconds(total) {
  const s = Math.max(0, Math.round(total));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min ${s % 60} s`;
  const hours = Math.floor(s / 3600);
  return hours < 48 ? `${hours} h ${Math.floor((s % 3600) / 60)} min` : `${Math.floor(hours / 24)} days`;
}

// ---------------------------------------------------------------------------------------------
// The API: JSON in and out, the custom header on writes, the bearer token when the server asks.

class ApiFailure extends Error {
  constructor(status, body) {
    const message = (body && (body.message || body.error)) || `The server answered ${status}.`;
    super(message);
    this.status = status;
    this.body = body || {};
  }
}

let tokenPrompt = null;

/** Shows the token dialog once, however many requests are waiting for it. */
function askForToken(rejected) {
  if (tokenPrompt) return tokenPrompt;
  tokenPrompt = new Promise((resolve) => {
    const dialog = $('token-dialog');
    const form = $('token-form');
    const input = $('token-input');
    $('token-error').textContent = rejected ? 'That token was not accepted. Try again.' : '';
    input.value = '';
    const submit = (event) => {
      event.preventDefault();
      const token = input.value.trim();
      if (!token) {
        $('token-error').textContent = 'Enter the token.';
        input.focus();
        return;
      }
      sessionStorage.setItem(TOKEN_KEY, token);
      input.value = '';
      form.removeEventListener('submit', submit);
      dialog.close();
      tokenPrompt = null;
      resolve();
    };
    form.addEventListener('submit', submit);
    dialog.showModal();
    input.focus();
  });
  return tokenPrompt;
}

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (method !== 'GET') headers[CLIENT_HEADER] = 'web';
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  const token = sessionStorage.getItem(TOKEN_KEY);
  if (token) headers.Authorization = `Bearer ${token}`;
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'same-origin',
      cache: 'no-store',
      redirect: 'error',
    });
  } catch (err) {
    throw new ApiFailure(0, { error: 'network', message: 'The server cannot be reached.' });
  }
  let data = null;
  try {
    data = await response.json();
  } catch (err) {
    data = null;
  }
  if (response.status === 401) {
    if (token) sessionStorage.removeItem(TOKEN_KEY);
    await askForToken(Boolean(token));
    return api(method, path, body);
  }
  if (!response.ok) throw new ApiFailure(response.status, data);
  return data;
}

// ---------------------------------------------------------------------------------------------
// Platform sections.

/** Per platform: its form state (dirty while edited and not yet saved). */
const sections = new Map();

function fieldId(platform, key) {
  return `${platform}-${key}`;
}

function describedBy(platform, field) {
  const ids = [`${fieldId(platform, field.key)}-error`];
  if (field.help) ids.unshift(`${fieldId(platform, field.key)}-help`);
  if (field.type === 'secret') ids.unshift(`${fieldId(platform, field.key)}-state`);
  return ids.join(' ');
}

function fieldShell(platform, field, control, extra) {
  const id = fieldId(platform, field.key);
  return h('div', { class: `field field-${field.type}`, 'data-field': field.key },
    h('label', { for: id, id: `${id}-label`, text: field.label }),
    extra || null,
    control,
    field.help ? h('p', { class: 'help', id: `${id}-help`, text: field.help }) : null,
    h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
}

function buildField(platform, field) {
  const id = fieldId(platform, field.key);
  const common = { id, name: field.key, 'aria-describedby': describedBy(platform, field) };
  switch (field.type) {
    case 'checkbox': {
      const box = h('input', { ...common, type: 'checkbox' });
      return h('div', { class: 'field field-checkbox', 'data-field': field.key },
        box,
        h('label', { for: id, id: `${id}-label`, text: field.label }),
        field.help ? h('p', { class: 'help', id: `${id}-help`, text: field.help }) : null,
        h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
    }
    case 'select':
      return fieldShell(platform, field,
        h('select', common, ...field.options.map(([value, label]) => h('option', { value, text: label }))));
    case 'secret': {
      const state = h('span', { class: 'secret-state', id: `${id}-state`, 'data-set': 'false', text: 'not set' });
      const input = h('input', {
        ...common, type: 'password', autocomplete: 'new-password', spellcheck: 'false',
        placeholder: 'Leave empty to keep the stored one',
      });
      return fieldShell(platform, field, input, state);
    }
    case 'list':
      return buildList(platform, field);
    case 'textarea':
      return fieldShell(platform, field, h('textarea', { ...common, rows: '4', spellcheck: 'true' }));
    case 'number':
      return fieldShell(platform, field, h('input', { ...common, type: 'number', min: '1', step: '1' }));
    default:
      return fieldShell(platform, field, h('input', {
        ...common, type: field.type === 'url' ? 'url' : 'text', placeholder: field.placeholder || '',
        autocomplete: 'off', spellcheck: 'false',
      }));
  }
}

/** An editable list: one text box per entry with a Remove button, and a box to add one. */
function buildList(platform, field) {
  const id = fieldId(platform, field.key);
  const list = h('ul', { class: 'entries', id: `${id}-entries`, 'aria-labelledby': `${id}-label` });
  const add = h('input', {
    id, type: 'text', placeholder: field.placeholder || '', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': describedBy(platform, field),
  });
  const addEntry = () => {
    const value = add.value.trim();
    if (!value) {
      add.focus();
      return;
    }
    appendEntry(platform, field, list, value);
    add.value = '';
    add.focus();
    markDirty(platform);
  };
  add.addEventListener('keydown', (event) => {
    if (event.key === 'Enter') {
      event.preventDefault();
      addEntry();
    }
  });
  const wrapper = h('div', { class: 'field field-list', 'data-field': field.key, role: 'group',
    'aria-labelledby': `${id}-label` },
  h('span', { class: 'label', id: `${id}-label`, text: field.label }),
  list,
  h('div', { class: 'add-entry' },
    h('label', { for: id, class: 'visually-hidden', text: `Add ${field.item}` }),
    add,
    h('button', { type: 'button', onclick: addEntry, text: `Add ${field.item}` })),
  field.help ? h('p', { class: 'help', id: `${id}-help`, text: field.help }) : null,
  h('p', { class: 'field-error', id: `${id}-error`, hidden: true }));
  return wrapper;
}

function appendEntry(platform, field, list, value) {
  const index = list.children.length;
  const input = h('input', { type: 'text', value, autocomplete: 'off', spellcheck: 'false',
    'aria-label': `${field.label}, entry ${index + 1}`, 'data-entry': true });
  const remove = h('button', { type: 'button', class: 'remove', 'aria-label': `Remove ${value}`, text: 'Remove' });
  const item = h('li', {}, input, remove);
  remove.addEventListener('click', () => {
    const next = item.nextElementSibling || item.previousElementSibling;
    item.remove();
    renumber(field, list);
    markDirty(platform);
    const focusTarget = next ? next.querySelector('input') : $(fieldId(platform, field.key));
    focusTarget.focus();
  });
  input.addEventListener('input', () => remove.setAttribute('aria-label', `Remove ${input.value}`));
  list.append(item);
}

function renumber(field, list) {
  [...list.querySelectorAll('input[data-entry]')].forEach((input, i) => {
    input.setAttribute('aria-label', `${field.label}, entry ${i + 1}`);
  });
}

function statusRow(platform, key, label) {
  return h('div', { class: 'status-row', id: `${platform}-status-${key}`, hidden: true },
    h('dt', { text: label }), h('dd', {}));
}

function buildSection(spec) {
  const p = spec.id;
  const form = h('form', { id: `${p}-form`, class: 'settings', novalidate: true, 'aria-label': `${spec.title} settings` },
    ...spec.fields.map((field) => buildField(p, field)),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'primary', id: `${p}-save`, 'aria-label': `Save ${spec.title} settings`,
        text: 'Save' }),
      h('button', { type: 'button', id: `${p}-discard`, hidden: true, 'aria-label': `Discard unsaved ${spec.title} changes`,
        text: 'Discard changes', onclick: () => discard(p) }),
      h('span', { class: 'dirty', id: `${p}-dirty`, hidden: true, text: 'Unsaved changes' })),
    h('p', { class: 'result', id: `${p}-save-result`, role: 'status', 'aria-live': 'polite' }));

  if (spec.settingsOnly) {
    const section = h('section', { id: p, class: 'card platform', 'aria-labelledby': `${p}-title` },
      h('div', { class: 'section-head' }, h('h2', { id: `${p}-title`, text: spec.title })),
      form);
    wireForm(p, spec, form);
    return section;
  }
  const section = h('section', { id: p, class: 'card platform', 'aria-labelledby': `${p}-title` },
    h('div', { class: 'section-head' },
      h('h2', { id: `${p}-title`, text: spec.title }),
      h('span', { class: 'badge', id: `${p}-state`, 'data-state': 'unknown', role: 'status', 'aria-live': 'polite',
        text: '…' })),
    h('dl', { class: 'status', id: `${p}-status` },
      statusRow(p, 'bot', 'Signed in as'),
      statusRow(p, 'since', 'Connected since'),
      statusRow(p, 'retry', 'Reconnecting'),
      statusRow(p, 'error', 'Last error'),
      statusRow(p, 'failures', 'Failed attempts'),
      statusRow(p, 'failed-replies', 'Failed replies'),
      statusRow(p, 'allowed', 'Allowed'),
      statusRow(p, 'warnings', 'Warnings')),
    h('div', { class: 'actions', role: 'group', 'aria-label': `${spec.title} connector` },
      h('button', { type: 'button', id: `${p}-start`, 'aria-label': `Start ${spec.title}`, text: 'Start',
        onclick: () => runAction(p, 'start') }),
      h('button', { type: 'button', id: `${p}-stop`, 'aria-label': `Stop ${spec.title}`, text: 'Stop',
        onclick: () => runAction(p, 'stop') }),
      h('button', { type: 'button', id: `${p}-test`, 'aria-label': `Test the ${spec.title} token`, text: 'Test',
        onclick: () => runAction(p, 'test') })),
    h('p', { class: 'result', id: `${p}-action-result`, role: 'status', 'aria-live': 'polite' }),
    spec.signIn ? buildSignIn(p) : null,
    form);
  wireForm(p, spec, form);
  return section;
}

/** Signing the bot in once with its password: the server gets a new device's token and saves it. */
function buildSignIn(p) {
  const user = h('input', { id: `${p}-signin-user`, type: 'text', autocomplete: 'username', spellcheck: 'false',
    placeholder: '@parachute:example.org', 'aria-describedby': `${p}-signin-user-error` });
  // Not offered to the browser's password manager: it is the bot's password, not the owner's.
  const password = h('input', { id: `${p}-signin-password`, type: 'password', autocomplete: 'off',
    'aria-describedby': `${p}-signin-password-error` });
  const form = h('form', { id: `${p}-signin`, class: 'signin', novalidate: true, 'aria-labelledby': `${p}-signin-title` },
    h('h3', { id: `${p}-signin-title`, text: 'Sign in with a password' }),
    h('p', { class: 'hint', text: 'Gets a new device and its access token from the homeserver below. The password is sent once to the homeserver and never stored.' }),
    h('div', { class: 'field' }, h('label', { for: user.id, text: 'Bot user' }), user,
      h('p', { class: 'field-error', id: `${p}-signin-user-error`, hidden: true })),
    h('div', { class: 'field' }, h('label', { for: password.id, text: 'Password' }), password,
      h('p', { class: 'field-error', id: `${p}-signin-password-error`, hidden: true })),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', id: `${p}-signin-submit`, text: 'Sign in' })),
    h('p', { class: 'result', id: `${p}-signin-result`, role: 'status', 'aria-live': 'polite' }));
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    signIn(p);
  });
  return form;
}

async function signIn(p) {
  const result = $(`${p}-signin-result`);
  const button = $(`${p}-signin-submit`);
  const password = $(`${p}-signin-password`);
  for (const key of ['user', 'password']) {
    const el = $(`${p}-signin-${key}-error`);
    el.textContent = '';
    el.hidden = true;
    $(`${p}-signin-${key}`).removeAttribute('aria-invalid');
  }
  const body = {
    homeserver_url: $(fieldId(p, 'homeserver_url')).value.trim(),
    user: $(`${p}-signin-user`).value.trim(),
    password: password.value,
  };
  // The password leaves the page with this request only.
  password.value = '';
  button.disabled = true;
  showResult(result, 'Signing in…');
  try {
    const data = await api('POST', `/api/bots/${p}/login`, body);
    if (data.config && data.config[p]) fillSection(p, data.config[p]);
    showResult(result, `Signed in as ${data.user_id}: ${data.message.replace(/^signed in as [^:]*: /, '')}.`, 'ok');
  } catch (err) {
    const field = err.body && err.body.field;
    if (field === 'homeserver_url') {
      showFieldError(p, `${p}.homeserver_url`, err.message);
    } else if (field === 'user' || field === 'password') {
      const el = $(`${p}-signin-${field}-error`);
      el.textContent = err.message;
      el.hidden = false;
      $(`${p}-signin-${field}`).setAttribute('aria-invalid', 'true');
      $(`${p}-signin-${field}`).focus();
    }
    showResult(result, `Not signed in: ${err.message}`, 'error');
  } finally {
    button.disabled = false;
  }
  refreshSoon();
}

function wireForm(p, spec, form) {
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    save(p);
  });
  form.addEventListener('input', () => markDirty(p));
  form.addEventListener('change', () => markDirty(p));
  sections.set(p, { spec, dirty: false, config: null });
}

/** Throws away unsaved edits: the section shows the server's settings again and follows them. */
function discard(platform) {
  const state = sections.get(platform);
  clearFieldErrors(platform);
  if (state.config) fillSection(platform, state.config);
  else markClean(platform);
  showResult($(`${platform}-save-result`), 'Changes discarded.', 'info');
  $(`${platform}-save`).focus();
}

function markDirty(platform) {
  const state = sections.get(platform);
  state.dirty = true;
  $(`${platform}-dirty`).hidden = false;
  $(`${platform}-discard`).hidden = false;
}

function markClean(platform) {
  const state = sections.get(platform);
  state.dirty = false;
  $(`${platform}-dirty`).hidden = true;
  $(`${platform}-discard`).hidden = true;
}

/** Puts a platform's config (the masked view) into its form. */
function fillSection(platform, config) {
  const state = sections.get(platform);
  state.config = config;
  for (const field of state.spec.fields) {
    const id = fieldId(platform, field.key);
    const value = config[field.key];
    switch (field.type) {
      case 'checkbox':
        $(id).checked = Boolean(value);
        break;
      case 'secret': {
        const set = Boolean(config[field.flag || 'has_token']);
        const badge = $(`${id}-state`);
        badge.textContent = set ? 'set' : 'not set';
        badge.dataset.set = String(set);
        $(id).value = '';
        break;
      }
      case 'list': {
        const list = $(`${id}-entries`);
        list.replaceChildren();
        for (const entry of Array.isArray(value) ? value : []) appendEntry(platform, field, list, String(entry));
        $(id).value = '';
        break;
      }
      default:
        $(id).value = value === null || value === undefined ? '' : String(value);
    }
  }
  markClean(platform);
}

function collectSection(platform) {
  const state = sections.get(platform);
  const patch = {};
  for (const field of state.spec.fields) {
    const id = fieldId(platform, field.key);
    switch (field.type) {
      case 'checkbox':
        patch[field.key] = $(id).checked;
        break;
      case 'secret': {
        const typed = $(id).value.trim();
        if (typed) patch[field.key] = typed;
        break;
      }
      case 'list': {
        // Text left in the add box counts as an entry the owner meant to add.
        const pending = $(id).value.trim();
        if (pending) {
          appendEntry(platform, field, $(`${id}-entries`), pending);
          $(id).value = '';
        }
        patch[field.key] = [...$(`${id}-entries`).querySelectorAll('input[data-entry]')]
          .map((input) => input.value.trim())
          .filter((entry) => entry !== '');
        break;
      }
      case 'number': {
        const typed = $(id).value.trim();
        patch[field.key] = typed === '' ? null : Number(typed);
        break;
      }
      default: {
        const typed = $(id).value.trim();
        // An optional key left empty goes back to its default.
        patch[field.key] = typed === '' && field.optional ? null : typed;
      }
    }
  }
  return patch;
}

function clearFieldErrors(platform) {
  const section = $(platform);
  for (const el of section.querySelectorAll('.field-error')) {
    el.textContent = '';
    el.hidden = true;
  }
  for (const el of section.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

/** Shows an API error next to its field (`matrix.allowed_rooms[1]` → the second room). */
function showFieldError(platform, fieldPath, message) {
  const match = /^([a-z_]+)\.([a-z_]+)(?:\[(\d+)\])?/.exec(fieldPath || '');
  if (!match || match[1] !== platform) return false;
  const field = sections.get(platform).spec.fields.find((f) => f.key === match[2]);
  if (!field) return false;
  const id = fieldId(platform, field.key);
  const errorEl = $(`${id}-error`);
  errorEl.textContent = message;
  errorEl.hidden = false;
  let target = $(id);
  if (field.type === 'list' && match[3] !== undefined) {
    const entry = $(`${id}-entries`).querySelectorAll('input[data-entry]')[Number(match[3])];
    if (entry) {
      entry.setAttribute('aria-describedby', `${id}-error`);
      target = entry;
    }
  }
  target.setAttribute('aria-invalid', 'true');
  target.focus();
  return true;
}

async function save(platform) {
  const result = $(`${platform}-save-result`);
  const button = $(`${platform}-save`);
  clearFieldErrors(platform);
  const patch = collectSection(platform);
  button.disabled = true;
  showResult(result, 'Saving…');
  try {
    const config = await api('PUT', '/api/bots/config', { [platform]: patch });
    fillSection(platform, config[platform]);
    showResult(result, 'Saved.', 'ok');
  } catch (err) {
    const shown = err.body && showFieldError(platform, err.body.field, err.message);
    showResult(result, shown ? 'Not saved: fix the marked field.' : `Not saved: ${err.message}`, 'error');
  } finally {
    // A typed secret is never kept in the page, saved or not.
    for (const field of sections.get(platform).spec.fields) {
      if (field.type === 'secret') $(fieldId(platform, field.key)).value = '';
    }
    button.disabled = false;
  }
  refreshSoon();
}

function describeTest(platform, data) {
  if (!data.success) return [`Test failed: ${data.error || 'unknown error'}`, 'error'];
  if (platform === 'matrix') {
    return [`Token works: signed in as ${data.user_id}${data.display_name ? ` (${data.display_name})` : ''}.`, 'ok'];
  }
  if (platform === 'telegram') return [`Token works: ${data.bot_name || ''} (@${data.bot_username || '?'}).`, 'ok'];
  return [`Token works: ${data.bot_name || ''} (id ${data.bot_id || '?'}).`, 'ok'];
}

async function runAction(platform, verb) {
  const result = $(`${platform}-action-result`);
  const button = $(`${platform}-${verb}`);
  const busy = { start: 'Starting…', stop: 'Stopping…', test: 'Testing the token…' }[verb];
  button.disabled = true;
  showResult(result, busy);
  try {
    const data = await api('POST', `/api/bots/${platform}/${verb}`);
    if (verb === 'test') showResult(result, ...describeTest(platform, data));
    else showResult(result, `${data.message || 'Done'}.`, 'ok');
  } catch (err) {
    const prefix = { start: 'Cannot start', stop: 'Cannot stop', test: 'Test failed' }[verb];
    showResult(result, `${prefix}: ${(err.body && err.body.error && err.body.message) || err.message}`, 'error');
  } finally {
    button.disabled = false;
  }
  refreshSoon();
}

function setRow(platform, key, text) {
  const row = $(`${platform}-status-${key}`);
  row.hidden = !text;
  const value = row.querySelector('dd');
  if (value.textContent !== (text || '')) value.textContent = text || '';
}

function renderStatus(platform, status, spec) {
  const badge = $(`${platform}-state`);
  const state = status.available === false ? 'unavailable' : status.state;
  // Only real changes touch the live region, so screen readers announce state changes, not polls.
  const label = state === 'unavailable' ? 'not built in' : state;
  if (badge.textContent !== label) badge.textContent = label;
  badge.dataset.state = state;
  const bot = status.bot;
  setRow(platform, 'bot', bot
    ? [bot.display_name, bot.username && `@${bot.username.replace(/^@/, '')}`, bot.user_id].filter(Boolean).join(' · ')
    : '');
  setRow(platform, 'since', status.state === 'connected' && status.connected_since
    ? `${formatTime(status.connected_since)}${status.uptime != null ? ` (${formatSeconds(status.uptime)})` : ''}`
    : '');
  const waiting = status.state === 'reconnecting' || status.state === 'stalled';
  const stalled = status.state === 'stalled'
    ? `the platform stopped answering (silent for ${formatSeconds((status.silent_for_ms || 0) / 1000)}); ` : '';
  const nextTry = status.next_retry_in_ms ? `, next try in ${formatSeconds(status.next_retry_in_ms / 1000)}` : '';
  setRow(platform, 'retry', waiting ? `${stalled}attempt ${status.reconnect_attempts}${nextTry}` : '');
  const error = status.failure_reason || status.last_error;
  setRow(platform, 'error', error
    ? `${error}${status.last_error_time ? ` (${formatTime(status.last_error_time)})` : ''}` : '');
  // History, not trouble, once the connector is back: the API and /metrics keep the counts.
  const troubled = status.state !== 'connected';
  setRow(platform, 'failures', troubled && status.failure_count ? String(status.failure_count) : '');
  setRow(platform, 'failed-replies', status.failed_replies ? String(status.failed_replies) : '');
  const count = status.allowed_rooms_count ?? status.allowed_users_count;
  const open = status.open_to_everyone ? 'open to everyone: every group or room it is added to is answered' : '';
  setRow(platform, 'allowed', [count ? `${count} ${spec.countLabel}` : '', open].filter(Boolean).join(' · '));
  setRow(platform, 'warnings', (status.warnings || []).join(' · '));
  const running = Boolean(status.running);
  $(`${platform}-start`).disabled = running || status.available === false;
  $(`${platform}-stop`).disabled = status.state === 'stopped';
  $(`${platform}-test`).disabled = status.available === false;
}

// ---------------------------------------------------------------------------------------------
// Pairing.

function describeRequest(request) {
  if (request.kind === 'room') {
    return `invited the bot to ${request.platform_chat_id}`;
  }
  return 'wants to chat in a direct message';
}

function buildRequest(request) {
  const id = `pairing-${request.id}`;
  const who = request.platform_user_display || request.platform_user_id;
  const trust = h('select', { id: `${id}-trust` },
    ...TRUST_LEVELS.map(([value, label]) => h('option', { value, text: label })));
  // Preselect the level the platform gives such chats by default.
  const platformConfig = sections.has(request.platform) && sections.get(request.platform).config;
  const preset = platformConfig && platformConfig[request.kind === 'room' ? 'group_trust_level' : 'dm_trust_level'];
  if (preset) trust.value = preset;
  const item = h('li', { class: 'request', id, 'data-id': request.id, 'aria-labelledby': `${id}-who` },
    h('div', { class: 'request-head' },
      h('span', { class: 'platform-tag', text: request.platform }),
      h('strong', { id: `${id}-who`, text: who }),
      h('span', { class: 'muted', text: request.platform_user_id })),
    h('p', { text: `${describeRequest(request)} · ${formatTime(request.created_at)}` }),
    request.first_message ? h('blockquote', { text: request.first_message }) : null,
    h('div', { class: 'request-actions' },
      h('label', { for: `${id}-trust`, text: 'Trust level' }),
      trust,
      h('button', { type: 'button', class: 'primary', 'aria-label': `Approve ${who}`, text: 'Approve',
        onclick: () => decide(request, 'approve', who) }),
      h('button', { type: 'button', class: 'danger', 'aria-label': `Deny ${who}`, text: 'Deny',
        onclick: () => decide(request, 'deny', who) })));
  return item;
}

async function decide(request, verb, who) {
  const result = $('pairing-result');
  const item = $(`pairing-${request.id}`);
  for (const button of item.querySelectorAll('button')) button.disabled = true;
  try {
    const body = verb === 'approve' ? { trust_level: $(`pairing-${request.id}-trust`).value } : undefined;
    const data = await api('POST', `/api/bots/pairing/${encodeURIComponent(request.id)}/${verb}`, body);
    const level = data.request && data.request.approved_trust_level;
    showResult(result, verb === 'approve' ? `Approved ${who}${level ? ` (${level})` : ''}.` : `Denied ${who}.`, 'ok');
  } catch (err) {
    showResult(result, `Could not ${verb} ${who}: ${err.message}`, 'error');
    for (const button of item.querySelectorAll('button')) button.disabled = false;
  }
  refreshSoon();
}

function renderPairing(requests) {
  const pending = requests.filter((r) => r.status === 'pending');
  const list = $('pairing-list');
  const shown = new Map([...list.children].map((li) => [li.dataset.id, li]));
  const wanted = new Set(pending.map((r) => String(r.id)));
  for (const [id, li] of shown) {
    if (!wanted.has(id)) {
      // Keep keyboard users inside the list when the item they were on disappears.
      const hadFocus = li.contains(document.activeElement);
      li.remove();
      if (hadFocus) $('pairing-title').focus();
    }
  }
  pending.forEach((request, index) => {
    const existing = shown.get(String(request.id));
    const li = existing && existing.isConnected ? existing : buildRequest(request);
    if (list.children[index] !== li) list.insertBefore(li, list.children[index] || null);
  });
  $('pairing-empty').hidden = pending.length > 0;
  const count = pending.length ? String(pending.length) : '';
  $('pairing-count').textContent = count;
  $('pairing-nav-count').textContent = count;
}

// ---------------------------------------------------------------------------------------------
// Polling: status and pairing every POLL_MS while the tab is visible; config for forms that are
// neither edited nor focused (so a change made elsewhere shows up without clobbering typing).

let pollTimer = null;
let polling = false;
let pollAgain = false;

function setConnection(text, kind) {
  const el = $('connection');
  if (el.textContent !== text) el.textContent = text;
  el.dataset.kind = kind;
}

async function refresh() {
  const [status, pairing, config, chats] = await Promise.all([
    api('GET', '/api/bots/status'),
    api('GET', '/api/bots/pairing'),
    api('GET', '/api/bots/config'),
    api('GET', '/api/bots/chats'),
  ]);
  for (const [platform, state] of sections) {
    const s = status.connectors && status.connectors[platform];
    if (s) renderStatus(platform, s, state.spec);
    const section = $(platform);
    if (config[platform] && !state.dirty && !section.contains(document.activeElement)) {
      fillSection(platform, config[platform]);
    }
  }
  renderPairing(pairing.requests || []);
  renderApproved(pairing.requests || []);
  renderChats(chats.chats || []);
  renderServer(status.server || {}, config.server || {});
  renderReload(status.config_reload);
}

/** How this server runs (the address this page reached, the token it enforces), shown, not edited. */
function renderServer(running, file) {
  const required = Boolean(running.api_token_required);
  let token = required ? 'required' : 'not required (the API answers anyone who can reach it)';
  if (file.has_api_token !== undefined && Boolean(file.has_api_token) !== required) {
    token += `; bots.yaml now ${file.has_api_token ? 'sets one' : 'sets none'}, from the next start`;
  }
  const rows = [['listen', window.location.host], ['token', token]];
  for (const [key, text] of rows) {
    const el = $(`server-${key}`);
    if (el.textContent !== text) el.textContent = text;
  }
}

/** What a chat's settings set, in a few words. */
function describeChatSettings(settings) {
  const parts = [];
  if (settings.mention_mode) parts.push(`mention mode ${settings.mention_mode}`);
  if (settings.model) parts.push(`model ${settings.model}`);
  if (settings.system_prompt) parts.push('instructions');
  return parts.join(', ');
}

/** People and rooms the owner approved, each with Chat settings and Revoke. */
function renderApproved(requests) {
  const approved = requests.filter((r) => r.status === 'approved');
  const list = $('approved-list');
  const wanted = approved.map((r) => `${r.id}:${JSON.stringify(r.chat_settings || null)}`).join(',');
  if (list.dataset.ids === wanted) return;
  const hadFocus = list.contains(document.activeElement);
  list.dataset.ids = wanted;
  list.replaceChildren(...approved.map((request) => {
    const who = request.kind === 'room'
      ? (request.platform_user_display || request.platform_chat_id)
      : (request.platform_user_display || request.platform_user_id);
    const what = request.kind === 'room' ? `room ${request.platform_chat_id}` : request.platform_user_id;
    return h('li', { class: 'request', 'data-id': request.id },
      h('div', { class: 'request-head' },
        h('span', { class: 'platform-tag', text: request.platform }),
        h('strong', { text: who }),
        h('span', { class: 'muted', text: what })),
      h('p', { text: `approved as ${request.approved_trust_level || 'sandboxed'} · ${formatTime(request.resolved_at)}` }),
      request.chat_settings ? h('p', { class: 'muted', text: `own settings: ${describeChatSettings(request.chat_settings)}` }) : null,
      h('div', { class: 'request-actions' },
        h('button', { type: 'button', 'aria-label': `Chat settings for ${who}`, text: 'Chat settings',
          onclick: () => openChat(request.platform, request.platform_chat_id) }),
        h('button', { type: 'button', class: 'danger', 'aria-label': `Revoke ${who}`, text: 'Revoke',
          onclick: () => revoke(request, who) })));
  }));
  $('approved-empty').hidden = approved.length > 0;
  if (hadFocus) $('approved-title').focus();
}

async function revoke(request, who) {
  const result = $('approved-result');
  try {
    await api('DELETE', `/api/bots/pairing/${encodeURIComponent(request.id)}`);
    showResult(result, `Revoked ${who}: the next message asks for your approval again.`, 'ok');
  } catch (err) {
    showResult(result, `Could not revoke ${who}: ${err.message}`, 'error');
  }
  refreshSoon();
}

// ---------------------------------------------------------------------------------------------
// Chat settings: one form per chat with settings (and per chat being added), saved with
// PUT /api/bots/chats/{platform}/{chat}; an empty field is sent as null (follow the config).

/** Chat forms by `platform/chat`: { li, dirty, saved (the server's record, or null) }. */
const chatForms = new Map();
let chatSerial = 0;

const chatKey = (platform, chat) => `${platform}/${chat}`;

function buildChat(platform, chat) {
  const id = `chat-${++chatSerial}`;
  const label = (field, text, control, help) => h('div', { class: 'field' },
    h('label', { for: `${id}-${field}`, text }),
    control,
    help ? h('p', { class: 'help', id: `${id}-${field}-help`, text: help }) : null,
    h('p', { class: 'field-error', id: `${id}-${field}-error`, role: 'alert' }));
  const prompt = h('textarea', { id: `${id}-system_prompt`, rows: '3', 'aria-describedby': `${id}-system_prompt-help` });
  const mode = h('select', { id: `${id}-mention_mode` },
    h('option', { value: '', text: 'As the platform says' }),
    ...MENTION_MODES.map(([value, text]) => h('option', { value, text })));
  const model = h('input', { id: `${id}-model`, type: 'text', autocomplete: 'off', spellcheck: 'false',
    'aria-describedby': `${id}-model-help` });
  const result = h('p', { class: 'result', id: `${id}-result`, role: 'status', 'aria-live': 'polite' });
  const li = h('li', { class: 'request chat', id, 'data-key': chatKey(platform, chat) },
    h('div', { class: 'request-head' },
      h('span', { class: 'platform-tag', text: platform }),
      h('strong', { id: `${id}-title`, text: chat })),
    label('system_prompt', 'Instructions for this chat', prompt, 'Added to the system prompt, after the brain\'s.'),
    label('mention_mode', 'Group messages answered', mode),
    label('model', 'Model', model, 'Empty: the brain\'s model.'),
    h('div', { class: 'request-actions' },
      h('button', { type: 'button', class: 'primary', id: `${id}-save`, text: 'Save',
        'aria-label': `Save the settings of ${chat}`, onclick: () => saveChat(platform, chat) }),
      h('button', { type: 'button', class: 'danger', id: `${id}-reset`, text: 'Reset',
        'aria-label': `Reset the settings of ${chat}`, onclick: () => resetChat(platform, chat) })),
    result);
  li.setAttribute('aria-labelledby', `${id}-title`);
  const state = { li, id, dirty: false, saved: null };
  for (const control of [prompt, mode, model]) {
    control.addEventListener('input', () => { state.dirty = true; });
    control.addEventListener('change', () => { state.dirty = true; });
  }
  return state;
}

function fillChat(state, record) {
  state.saved = record;
  $(`${state.id}-system_prompt`).value = record.system_prompt || '';
  $(`${state.id}-mention_mode`).value = record.mention_mode || '';
  $(`${state.id}-model`).value = record.model || '';
}

function renderChats(chats) {
  const list = $('chat-list');
  const wanted = new Map(chats.map((record) => [chatKey(record.platform, record.chat_id), record]));
  for (const [key, state] of chatForms) {
    const editing = state.dirty || state.li.contains(document.activeElement);
    if (!wanted.has(key) && !editing && state.saved) {
      state.li.remove();
      chatForms.delete(key);
    }
  }
  for (const [key, record] of wanted) {
    let state = chatForms.get(key);
    if (!state) {
      state = buildChat(record.platform, record.chat_id);
      chatForms.set(key, state);
      list.append(state.li);
    }
    const editing = state.dirty || state.li.contains(document.activeElement);
    if (!editing && JSON.stringify(state.saved) !== JSON.stringify(record)) fillChat(state, record);
  }
  $('chats-empty').hidden = chatForms.size > 0;
}

/** Shows the form of a chat (a new one when it has no settings yet) and moves focus into it. */
function openChat(platform, chat) {
  const key = chatKey(platform, chat);
  let state = chatForms.get(key);
  if (!state) {
    state = buildChat(platform, chat);
    state.dirty = true;
    chatForms.set(key, state);
    $('chat-list').append(state.li);
  }
  $('chats-empty').hidden = true;
  $(`${state.id}-system_prompt`).focus();
}

function clearChatErrors(state) {
  for (const el of state.li.querySelectorAll('.field-error')) el.textContent = '';
  for (const el of state.li.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid');
}

async function saveChat(platform, chat) {
  const state = chatForms.get(chatKey(platform, chat));
  clearChatErrors(state);
  const value = (field) => $(`${state.id}-${field}`).value.trim() || null;
  const body = { system_prompt: value('system_prompt'), mention_mode: value('mention_mode'), model: value('model') };
  const path = `/api/bots/chats/${encodeURIComponent(platform)}/${encodeURIComponent(chat)}`;
  try {
    const data = await api('PUT', path, body);
    state.dirty = false;
    fillChat(state, data.chat);
    showResult($(`${state.id}-result`), 'Saved.', 'ok');
  } catch (err) {
    const field = err.body && err.body.field;
    const control = field && document.getElementById(`${state.id}-${field}`);
    if (control) {
      $(`${state.id}-${field}-error`).textContent = err.message;
      control.setAttribute('aria-invalid', 'true');
      control.focus();
    }
    showResult($(`${state.id}-result`), `Not saved: ${err.message}`, 'error');
    return;
  }
  refreshSoon();
}

async function resetChat(platform, chat) {
  const key = chatKey(platform, chat);
  const state = chatForms.get(key);
  try {
    await api('DELETE', `/api/bots/chats/${encodeURIComponent(platform)}/${encodeURIComponent(chat)}`);
  } catch (err) {
    showResult($(`${state.id}-result`), `Not reset: ${err.message}`, 'error');
    return;
  }
  state.li.remove();
  chatForms.delete(key);
  $('chats-empty').hidden = chatForms.size > 0;
  showResult($('chats-result'), `${chat} follows the settings above again.`, 'ok');
  $('chats-title').focus();
  refreshSoon();
}

/** The latest SIGHUP reload of bots.yaml, when the file was refused. */
function renderReload(reload) {
  const el = $('reload-error');
  const refused = reload && !reload.ok;
  const text = refused
    ? `bots.yaml was not reloaded (${formatTime(reload.time)}): ${reload.error}. The server keeps running on the previous settings.`
    : '';
  if (el.textContent !== text) el.textContent = text;
  el.hidden = !refused;
}

async function poll() {
  clearTimeout(pollTimer);
  pollTimer = null;
  if (polling) {
    pollAgain = true;
    return;
  }
  polling = true;
  try {
    await refresh();
    setConnection(`Live · updated ${new Date().toLocaleTimeString()}`, 'ok');
  } catch (err) {
    setConnection(`Not connected: ${err.message}`, 'error');
  } finally {
    polling = false;
  }
  if (pollAgain) {
    pollAgain = false;
    poll();
    return;
  }
  if (!document.hidden) pollTimer = setTimeout(poll, POLL_MS);
}

/** Refreshes at once (after an action), then keeps the usual rhythm. */
function refreshSoon() {
  poll();
}

document.addEventListener('visibilitychange', () => {
  if (document.hidden) {
    clearTimeout(pollTimer);
    pollTimer = null;
    setConnection('Paused while the tab is hidden', 'idle');
  } else {
    poll();
  }
});

function init() {
  const container = $('platforms');
  for (const spec of PLATFORMS) container.append(buildSection(spec));
  for (const spec of SETTINGS) $('settings').append(buildSection(spec));
  $('pairing-title').setAttribute('tabindex', '-1');
  $('approved-title').setAttribute('tabindex', '-1');
  $('chats-title').setAttribute('tabindex', '-1');
  $('chat-add').addEventListener('submit', (event) => {
    event.preventDefault();
    const chat = $('chat-add-id').value.trim();
    if (!chat) {
      $('chat-add-id').focus();
      return;
    }
    openChat($('chat-add-platform').value, chat);
    $('chat-add-id').value = '';
  });
  // The token dialog cannot be dismissed with Escape: every request needs the token.
  $('token-dialog').addEventListener('cancel', (event) => event.preventDefault());
  poll();
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
else init();
