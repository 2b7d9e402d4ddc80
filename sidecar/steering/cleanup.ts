/**
 * `realip init --cleanup`: remove everything realip init installed (the PREROUTING jumps, our chain,
 * the policy-routing rule and route of our table) and nothing else, so the namespace is back to what
 * it was before. With `--iptables-backend auto` both backends are searched, since a previous run may
 * have used either.
 */
import type { IpFamily } from '../../common/ip.ts';
import { type Backend, resolveTools } from './backend.ts';
import type { BackendChoice } from './config.ts';
import { type Action, removeRouting } from './apply.ts';
import { renderRemove } from './plan.ts';
import { readIptables, readRouting } from './state.ts';
import type { System } from './system.ts';

export async function cleanupActions(
  sys: System,
  choice: BackendChoice,
  families: readonly IpFamily[],
  chain: string,
  table: number,
): Promise<Action[]> {
  const actions: Action[] = [];
  const backends: Backend[] = choice === 'auto' ? ['nft', 'legacy'] : [choice];
  let found = 0;
  for (const backend of backends) {
    let tools: ReturnType<typeof resolveTools>;
    try {
      tools = resolveTools(sys, backend, families, 'cleanup');
    } catch (err) {
      // auto: a backend that is not installed holds nothing of ours.
      if (choice === 'auto') continue;
      throw err;
    }
    found++;
    for (const ft of tools.families) {
      const st = await readIptables(sys, ft, chain);
      if (st.chainExists)
        actions.push({
          kind: 'restore',
          family: ft.family,
          tool: ft.restore,
          text: renderRemove(chain, st.jumpCount),
        });
    }
  }
  if (found === 0) resolveTools(sys, 'nft', families, 'cleanup'); // throws, naming the missing tool
  const ip = sys.which('ip');
  // Without `ip` nothing can have been routed by us: there is nothing to remove.
  if (ip !== undefined) {
    for (const family of families)
      actions.push(...removeRouting(await readRouting(sys, ip, family, table), table));
  }
  return actions;
}
