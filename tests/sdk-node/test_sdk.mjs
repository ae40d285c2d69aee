// `racehound serve` against the official Node SDKs: stripe, @clerk/backend and svix.
//
// Run by `bash .ci/sdk-node.sh`, which starts `racehound serve all` and sets:
//   RACEHOUND_STRIPE  http://127.0.0.1:PORT of the fake Stripe
//   RACEHOUND_CLERK   http://127.0.0.1:PORT of the fake Clerk
//   RECEIVER_PORT     the port this file listens on for forwarded webhooks (/stripe, /clerk)
// Each test is named after the issue-22 item it checks.

import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';

import Stripe from 'stripe';
import { createClerkClient } from '@clerk/backend';
import { verifyWebhook } from '@clerk/backend/webhooks';
import { Webhook } from 'svix';

const STRIPE = process.env.RACEHOUND_STRIPE;
const CLERK = process.env.RACEHOUND_CLERK;
const RECEIVER_PORT = Number(process.env.RECEIVER_PORT);
const RUN = String(Date.now()); // unique strings if the servers are reused

async function admin(base, method, path, body) {
  const response = await fetch(base + path, {
    method,
    headers: { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  assert.equal(response.status, 200, `${method} ${path}`);
  return response.json();
}

const stripeSecret = (await admin(STRIPE, 'GET', '/_racehound/info')).webhook_secret;
const clerkSecret = (await admin(CLERK, 'GET', '/_racehound/info')).webhook_secret;

const stripeUrl = new URL(STRIPE);
const stripe = new Stripe('sk_test_racehound_node', {
  host: stripeUrl.hostname,
  port: Number(stripeUrl.port),
  protocol: 'http',
  maxNetworkRetries: 0,
});
const clerk = createClerkClient({ secretKey: 'sk_test_racehound_node', apiUrl: CLERK });

// Deliveries, verified as an app's webhook routes would, each by every official verifier.
const verified = { stripe: [], clerkSvix: [], clerkBackend: [] };
const rejected = [];

const receiver = http.createServer((request, response) => {
  const chunks = [];
  request.on('data', (chunk) => chunks.push(chunk));
  request.on('end', async () => {
    const body = Buffer.concat(chunks);
    let status = 200;
    try {
      if (request.url === '/stripe') {
        const event = stripe.webhooks.constructEvent(
          body,
          request.headers['stripe-signature'],
          stripeSecret,
        );
        verified.stripe.push(event);
      } else if (request.url === '/clerk') {
        const headers = {
          'svix-id': request.headers['svix-id'],
          'svix-timestamp': request.headers['svix-timestamp'],
          'svix-signature': request.headers['svix-signature'],
        };
        const payload = new Webhook(clerkSecret).verify(body.toString('utf8'), headers);
        verified.clerkSvix.push(payload);
        const event = await verifyWebhook(
          new Request('http://receiver/clerk', { method: 'POST', headers, body }),
          { signingSecret: clerkSecret },
        );
        verified.clerkBackend.push(event);
      } else {
        status = 404;
      }
    } catch (error) {
      rejected.push(`${request.url}: ${error}`);
      status = 400;
    }
    response.writeHead(status, { 'Content-Type': 'application/json' });
    response.end('{}');
  });
});
await new Promise((resolve) => receiver.listen(RECEIVER_PORT, '127.0.0.1', resolve));
after(() => receiver.close());

async function eventually(what, predicate, timeoutMs = 10_000) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = predicate();
    if (found) return found;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  assert.fail(`${what} did not happen within ${timeoutMs} ms (rejected: ${rejected.join('; ')})`);
}

test('item 1: users.getUserList and users.getCount', async () => {
  const email = `list-${RUN}@example.com`;
  const user = await clerk.users.createUser({ emailAddress: [email] });
  await clerk.users.createUser({ emailAddress: [`other-${RUN}@example.com`] });
  const list = await clerk.users.getUserList({ emailAddress: [email] });
  assert.equal(list.totalCount, 1);
  assert.deepEqual(list.data.map((u) => u.id), [user.id]);
  const count = await clerk.users.getCount({ emailAddress: [email] });
  assert.equal(count, 1);
  assert.ok((await clerk.users.getCount()) >= 2);
});

test('item 2: customers.search with OR, spaces and lowercase and', async () => {
  const a = await stripe.customers.create({ email: `a-${RUN}@example.com` });
  const b = await stripe.customers.create({ email: `b-${RUN}@example.com`, name: `Bee ${RUN}` });
  // Search lags behind writes (as Stripe's does): move business time past the lag.
  await admin(STRIPE, 'POST', '/_racehound/clock', { advance_ms: 120_000 });
  const ids = async (query) =>
    (await stripe.customers.search({ query })).data.map((c) => c.id).sort();
  const both = [a.id, b.id].sort();
  assert.deepEqual(await ids(`email:'a-${RUN}@example.com' OR name:'Bee ${RUN}'`), both);
  assert.deepEqual(await ids(`email:'b-${RUN}@example.com' name:'Bee ${RUN}'`), [b.id]);
  assert.deepEqual(await ids(`email:'b-${RUN}@example.com' and name:'Bee ${RUN}'`), [b.id]);
  await assert.rejects(
    stripe.customers.search({ query: `email~'a-${RUN}'` }),
    (error) => error.type === 'StripeInvalidRequestError' && error.statusCode === 400,
  );
});

test('item 3: deliveries verify after a clock advance and with a frozen clock', async () => {
  for (const base of [STRIPE, CLERK]) {
    await admin(base, 'POST', '/_racehound/clock', { advance_ms: 3_600_000 });
  }
  const advanced = await stripe.customers.create({ email: `advanced-${RUN}@example.com` });
  const advancedUser = await clerk.users.createUser({
    emailAddress: [`advanced-${RUN}@example.com`],
  });
  await eventually('the Stripe delivery after an advance', () =>
    verified.stripe.find((e) => e.data.object.id === advanced.id),
  );
  await eventually('the Clerk delivery after an advance (svix and @clerk/backend)', () =>
    verified.clerkSvix.find((e) => e.data.id === advancedUser.id) &&
    verified.clerkBackend.find((e) => e.data.id === advancedUser.id),
  );
  // Frozen, and ten minutes ahead of the wall clock: past every verifier's 5-minute tolerance
  // if the signature used business time.
  for (const base of [STRIPE, CLERK]) {
    await admin(base, 'POST', '/_racehound/clock', { freeze: true });
    await admin(base, 'POST', '/_racehound/clock', { advance_ms: 600_000 });
  }
  const frozen = await stripe.customers.create({ email: `frozen-${RUN}@example.com` });
  const frozenUser = await clerk.users.createUser({ emailAddress: [`frozen-${RUN}@example.com`] });
  await eventually('the Stripe delivery with a frozen clock', () =>
    verified.stripe.find((e) => e.data.object.id === frozen.id),
  );
  await eventually('the Clerk delivery with a frozen clock', () =>
    verified.clerkSvix.find((e) => e.data.id === frozenUser.id) &&
    verified.clerkBackend.find((e) => e.data.id === frozenUser.id),
  );
  for (const base of [STRIPE, CLERK]) {
    await admin(base, 'POST', '/_racehound/clock', { freeze: false });
  }
  // Business time is the advanced clock: `created` is more than an hour ahead of the wall.
  assert.ok(frozen.created * 1000 > Date.now() + 3_600_000, `created ${frozen.created}`);
  assert.deepEqual(rejected, []);
});

test('item 4: updateOrganizationMembership changes the role', async () => {
  const owner = await clerk.users.createUser({ emailAddress: [`owner-${RUN}@example.com`] });
  const member = await clerk.users.createUser({ emailAddress: [`member-${RUN}@example.com`] });
  const org = await clerk.organizations.createOrganization({ name: `Team ${RUN}`, createdBy: owner.id });
  await clerk.organizations.createOrganizationMembership({
    organizationId: org.id,
    userId: member.id,
    role: 'org:member',
  });
  const updated = await clerk.organizations.updateOrganizationMembership({
    organizationId: org.id,
    userId: member.id,
    role: 'org:admin',
  });
  assert.equal(updated.role, 'org:admin');
  assert.equal(updated.publicUserData.userId, member.id);
});

test('item 4: getOrganizationList counts members only with includeMembersCount', async () => {
  const owner = await clerk.users.createUser({ emailAddress: [`counted-${RUN}@example.com`] });
  const org = await clerk.organizations.createOrganization({ name: `Counted ${RUN}`, createdBy: owner.id });
  const find = (list) => list.data.find((o) => o.id === org.id);
  const counted = find(await clerk.organizations.getOrganizationList({ includeMembersCount: true, query: org.id }));
  assert.equal(counted.membersCount, 1);
  const plain = find(await clerk.organizations.getOrganizationList({ query: org.id }));
  assert.ok(plain.membersCount === undefined || plain.membersCount === null, `${plain.membersCount}`);
});
