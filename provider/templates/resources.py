"""Resource declarations -> expanded instances -> dependency order (research §3.4, §7.2-§7.4, §8).

A declaration is one entry of `resources` (nested child declarations are flattened with
their full type); an instance is one copy-loop iteration of it with its name, id, condition
and target scope evaluated. Bodies are previewed here too: that both validates them and
reveals the implicit dependencies of `reference()`/`list*()` calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provider.templates import copyloops, scan
from provider.templates.context import EvalContext, PreviewStats
from provider.templates.errors import INVALID_TEMPLATE, Deferred, ExpressionError, TemplateError
from provider.templates.evaluator import evaluate, walk
from provider.templates.graph import DependencyGraph
from provider.templates.ids import build_id, parent_ids, rg_scope, split_type, sub_scope
from provider.templates.parser import Call, Literal, is_expression
from provider.templates.values import get_ci, has_key_ci, type_name

if TYPE_CHECKING:
    from provider.templates.runtime import TemplateRuntime

DEPLOYMENTS_TYPE = "microsoft.resources/deployments"
RESOURCE_GROUPS_TYPE = "microsoft.resources/resourcegroups"
# Template-only keys that are never part of the body sent to the resource provider.
TEMPLATE_ONLY_KEYS = frozenset({
    "type", "apiversion", "name", "condition", "copy", "dependson", "comments", "scope", "resources",
    "resourcegroup", "subscriptionid", "existing", "metadata", "apiprofile", "description", "import",
})
_INSTANCE_REF = re.compile(r"^(.+)\[(\d+)\]$")


@dataclass(eq=False)
class Decl:
    index: int
    symbolic: str | None
    raw: dict[str, Any]
    parent: Decl | None
    path: str
    full_type: str
    api_version: str
    qualified: bool  # True when the child type was written in full (not relative to its parent)
    children: list[Decl] = field(default_factory=list)
    loop_name: str | None = None

    @property
    def label(self) -> str:
        return self.symbolic or self.path


@dataclass(eq=False)
class Instance:
    seq: int
    decl: Decl
    ctx: EvalContext
    copy_name: str | None
    copy_index: int | None
    parent: Instance | None
    condition: bool = True
    existing: bool = False
    type: str = ""
    name: str = ""
    resource_id: str = ""
    base_scope: str = ""
    scope_id: str | None = None
    target_sub: str | None = None
    target_rg: str | None = None
    key: str = ""
    depends_raw: list[str] = field(default_factory=list)
    depends_on: list[Instance] = field(default_factory=list)
    preview_body: dict[str, Any] | None = None
    preview_complete: bool = False
    touched: list[tuple[str, str, Any]] = field(default_factory=list)
    state: str = "pending"  # pending | succeeded | failed | skipped
    result: dict[str, Any] | None = None

    @property
    def is_deployment(self) -> bool:
        return self.type.lower() == DEPLOYMENTS_TYPE

    @property
    def deployable(self) -> bool:
        return self.condition and not self.existing


def located(exc: TemplateError, prefix: str) -> TemplateError:
    """Give an error the JSON path it came from (prefix + the segments collected while unwinding)."""
    if exc.target is None:
        exc.target = prefix + "".join(reversed(exc.path))
        exc.path = []
    return exc


def _qualified(type_text: str) -> bool:
    first = type_text.strip("/").split("/", 1)[0]
    return "." in first


class ResourceSet:
    """All declarations and instances of one template, plus lookups used by dependsOn and reference()."""

    def __init__(self, runtime: TemplateRuntime) -> None:
        self.rt = runtime
        self.decls: list[Decl] = []
        self.instances: list[Instance] = []
        self.by_symbol: dict[str, Decl] = {}
        self.loops: dict[str, list[Instance]] = {}
        self.loop_modes: dict[str, tuple[str | None, int | None]] = {}
        self.order: list[Instance] = []

    # ------------------------------------------------------------------ declarations
    def collect(self) -> None:
        resources = get_ci(self.rt.template, "resources")
        if resources is None:
            return
        if isinstance(resources, dict):
            for symbol, raw in resources.items():
                self._declare(symbol, raw, None, f"resources.{symbol}")
        elif isinstance(resources, list):
            for i, raw in enumerate(resources):
                self._declare(None, raw, None, f"resources[{i}]")
        else:
            raise TemplateError(INVALID_TEMPLATE, "The template 'resources' must be an array (or an object of "
                                "symbolic names in languageVersion 2.0).", target="resources")

    def _declare(self, symbol: str | None, raw: Any, parent: Decl | None, path: str) -> None:
        if not isinstance(raw, dict):
            raise TemplateError(INVALID_TEMPLATE, "A template resource must be an object.", target=path)
        type_text = get_ci(raw, "type")
        if not isinstance(type_text, str) or not type_text.strip():
            raise TemplateError(INVALID_TEMPLATE, "The template resource has no 'type'.", target=path)
        if is_expression(type_text):
            raise TemplateError(INVALID_TEMPLATE, f"The template resource type '{type_text}' must be a literal, "
                                "not an expression.", target=f"{path}.type")
        api_version = get_ci(raw, "apiVersion")
        if not isinstance(api_version, str) or not api_version or is_expression(api_version):
            raise TemplateError(INVALID_TEMPLATE, "The template resource must have a literal 'apiVersion'.",
                                target=f"{path}.apiVersion")
        if not has_key_ci(raw, "name"):
            raise TemplateError(INVALID_TEMPLATE, "The template resource has no 'name'.", target=path)
        type_text = type_text.strip().strip("/")
        qualified = parent is None or _qualified(type_text)
        full_type = type_text if qualified else f"{parent.full_type}/{type_text}"  # type: ignore[union-attr]
        try:
            split_type(full_type)
        except ExpressionError as exc:
            raise TemplateError(INVALID_TEMPLATE, exc.message, target=f"{path}.type") from None
        decl = Decl(len(self.decls), symbol, raw, parent, path, full_type, api_version, qualified)
        self.decls.append(decl)
        if symbol is not None:
            if symbol in self.by_symbol:
                raise TemplateError(INVALID_TEMPLATE, f"The symbolic name '{symbol}' is declared twice.", target=path)
            self.by_symbol[symbol] = decl
        if parent is not None:
            parent.children.append(decl)
        children = get_ci(raw, "resources")
        if isinstance(children, list):
            for i, child in enumerate(children):
                self._declare(None, child, decl, f"{path}.resources[{i}]")
        elif isinstance(children, dict):
            for child_symbol, child in children.items():
                self._declare(child_symbol, child, decl, f"{path}.resources.{child_symbol}")

    # ------------------------------------------------------------------ expansion
    def expand(self) -> None:
        for decl in self.decls:
            if decl.parent is None:
                self._expand_decl(decl, self.rt.plan_context(f"the resource '{decl.label}'"), None)
        self._check_duplicates()

    def _expand_decl(self, decl: Decl, ctx: EvalContext, parent: Instance | None) -> None:
        copy_spec = get_ci(decl.raw, "copy")
        made: list[Instance] = []
        try:
            if copy_spec is not None:
                if not isinstance(copy_spec, dict):
                    raise ExpressionError("The resource 'copy' property must be an object.")
                loop = get_ci(copy_spec, "name")
                if not isinstance(loop, str) or not loop:
                    raise ExpressionError("The resource copy loop needs a literal 'name'.")
                if loop.lower() in self.loops:
                    raise ExpressionError(f"The copy loop name '{loop}' is used more than once.")
                decl.loop_name = loop
                count = copyloops.copy_count(get_ci(copy_spec, "count"), ctx, walk, f"'{loop}'")
                mode = walk(get_ci(copy_spec, "mode"), ctx)
                batch = walk(get_ci(copy_spec, "batchSize"), ctx)
                if mode is not None and (not isinstance(mode, str) or mode.lower() not in ("serial", "parallel")):
                    raise ExpressionError(f"The copy mode '{mode}' is not valid; use 'serial' or 'parallel'.")
                self.loop_modes[loop.lower()] = (mode, batch if isinstance(batch, int) else None)
                self.loops[loop.lower()] = []
                for index in range(count):
                    inst = self._instance(decl, ctx.with_copy(loop, index, default=True), loop, index, parent)
                    self.loops[loop.lower()].append(inst)
                    made.append(inst)
            else:
                made.append(self._instance(decl, ctx, None, None, parent))
        except TemplateError as exc:
            raise located(exc, decl.path) from None
        for inst in made:
            for child in decl.children:
                child_ctx = inst.ctx.derive(location=f"the resource '{child.label}'")
                self._expand_decl(child, child_ctx, inst)

    def _instance(self, decl: Decl, ctx: EvalContext, loop: str | None, index: int | None,
                  parent: Instance | None) -> Instance:
        inst = Instance(len(self.instances), decl, ctx, loop, index, parent)
        raw = decl.raw
        condition = get_ci(raw, "condition")
        if condition is not None:
            value = self._eval(condition, ctx, decl, ".condition")
            if isinstance(value, str) and value.lower() in ("true", "false"):
                value = value.lower() == "true"
            if not isinstance(value, bool):
                raise TemplateError(INVALID_TEMPLATE, f"The resource condition must be a boolean, not a value of "
                                    f"type '{type_name(value)}'.", target=f"{decl.path}.condition")
            inst.condition = value
        if parent is not None and not parent.condition:
            inst.condition = False
        existing = get_ci(raw, "existing")
        inst.existing = bool(self._eval(existing, ctx, decl, ".existing")) if existing is not None else False
        name = self._eval(get_ci(raw, "name"), ctx, decl, ".name")
        if not isinstance(name, str) or not name:
            raise TemplateError(INVALID_TEMPLATE, f"The resource name must be a non-empty string, not "
                                f"'{name}'.", target=f"{decl.path}.name")
        inst.type = decl.full_type
        _, type_segments = split_type(decl.full_type)
        if parent is not None and (not decl.qualified or name.count("/") + 1 < len(type_segments)):
            name = f"{parent.name}/{name}"
        inst.name = name
        self._place(inst, ctx)
        deps = get_ci(raw, "dependsOn")
        if deps is not None:
            value = self._eval(deps, ctx, decl, ".dependsOn")
            if not isinstance(value, list):
                raise TemplateError(INVALID_TEMPLATE, "'dependsOn' must be an array.", target=f"{decl.path}.dependsOn")
            for item in value:
                if isinstance(item, list):
                    inst.depends_raw.extend(str(i) for i in item if i is not None)
                elif isinstance(item, str):
                    inst.depends_raw.append(item)
                elif item is not None:
                    raise TemplateError(INVALID_TEMPLATE, "'dependsOn' entries must be strings.",
                                        target=f"{decl.path}.dependsOn")
        if self.rt.is_v2 and decl.symbolic is not None:
            inst.key = decl.symbolic if index is None else f"{decl.symbolic}[{index}]"
        else:
            inst.key = f"{inst.type}/{inst.name}"
        self.instances.append(inst)
        return inst

    def _eval(self, raw: Any, ctx: EvalContext, decl: Decl, suffix: str) -> Any:
        try:
            return walk(raw, ctx)
        except TemplateError as exc:
            raise located(exc, decl.path + suffix) from None

    def _place(self, inst: Instance, ctx: EvalContext) -> None:
        """Compute where the resource lives (target subscription/group, extension scope) and its id."""
        raw = inst.decl.raw
        decl = inst.decl
        rt = self.rt
        scope_val = self._eval(get_ci(raw, "scope"), ctx, decl, ".scope") if has_key_ci(raw, "scope") else None
        sub_val = self._eval(get_ci(raw, "subscriptionId"), ctx, decl, ".subscriptionId")
        rg_val = self._eval(get_ci(raw, "resourceGroup"), ctx, decl, ".resourceGroup")
        inst.target_sub = sub_val if isinstance(sub_val, str) and sub_val else rt.subscription_id
        if isinstance(rg_val, str) and rg_val:
            inst.target_rg = rg_val
            base = rg_scope(inst.target_sub, rg_val)
        elif isinstance(sub_val, str) and sub_val:  # subscriptionId without resourceGroup: subscription scope
            inst.target_rg = None
            base = sub_scope(inst.target_sub)
        else:
            inst.target_rg = rt.resource_group_name
            base = rt.scope_id
        try:
            if inst.parent is not None and scope_val is None:
                base = inst.parent.base_scope
                inst.target_sub, inst.target_rg = inst.parent.target_sub, inst.parent.target_rg
                inst.scope_id = inst.parent.scope_id
            elif isinstance(scope_val, str) and scope_val:
                inst.scope_id = self._scope_id(scope_val)
                base = inst.scope_id
            elif scope_val is not None and scope_val != "":
                raise ExpressionError(f"The resource 'scope' must be a string, not '{type_name(scope_val)}'.")
            inst.base_scope = base
            if inst.type.lower() == RESOURCE_GROUPS_TYPE:
                inst.resource_id = f"{sub_scope(inst.target_sub)}/resourceGroups/{inst.name}"
            else:
                inst.resource_id = build_id(base, inst.type, [inst.name])
        except ExpressionError as exc:
            raise located(exc, inst.decl.path + ".name") from None

    def _scope_id(self, scope: str) -> str:
        if scope.startswith("/"):
            return scope.rstrip("/") if scope != "/" else ""
        if self.rt.is_v2 and scope in self.by_symbol:
            targets = [i for i in self.instances if i.decl is self.by_symbol[scope]]
            if len(targets) == 1:
                return targets[0].resource_id
        parts = [p for p in scope.split("/") if p]
        namespace, rest = parts[0], parts[1:]
        types, names = rest[0::2], rest[1::2]
        return build_id(self.rt.scope_id, "/".join([namespace, *types]), names)

    def _check_duplicates(self) -> None:
        seen: dict[str, Instance] = {}
        for inst in self.instances:
            if not inst.condition or inst.existing:
                continue
            key = inst.resource_id.lower()
            if key in seen:
                raise TemplateError(INVALID_TEMPLATE, f"The resource '{inst.resource_id}' is defined multiple times "
                                    "in a template. Please see https://aka.ms/arm-template/#resources for usage "
                                    "details.", target=inst.decl.path)
            seen[key] = inst
        self.by_id = seen
        self._by_name: dict[str, list[Instance]] = {}
        self._by_type_name: dict[str, list[Instance]] = {}
        self._by_leaf: dict[str, list[Instance]] = {}
        self._by_any_id: dict[str, list[Instance]] = {}
        for inst in self.instances:
            self._by_name.setdefault(inst.name.lower(), []).append(inst)
            self._by_type_name.setdefault(f"{inst.type}/{inst.name}".lower(), []).append(inst)
            self._by_leaf.setdefault(inst.name.rsplit("/", 1)[-1].lower(), []).append(inst)
            self._by_any_id.setdefault(inst.resource_id.lower(), []).append(inst)

    # ------------------------------------------------------------------ lookups
    def match(self, ref: str, *, exclude: Instance | None = None, for_dependency: bool = False) -> list[Instance]:
        """Template instances a dependsOn entry or reference() argument designates (empty if none)."""
        text = ref.strip()
        if self.rt.is_v2 or for_dependency:
            decl = self.by_symbol.get(text)
            if decl is None and self.rt.is_v2:
                decl = next((d for s, d in self.by_symbol.items() if s.lower() == text.lower()), None)
            if decl is not None:
                return [i for i in self.instances if i.decl is decl and i is not exclude]
            m = _INSTANCE_REF.match(text)
            if m and (m.group(1) in self.by_symbol or m.group(1).lower() in self.loops):
                loop_instances = self.loops.get(m.group(1).lower())
                if loop_instances is None:
                    loop_instances = [i for i in self.instances if i.decl is self.by_symbol[m.group(1)]]
                idx = int(m.group(2))
                return [loop_instances[idx]] if idx < len(loop_instances) else []
        if for_dependency and text.lower() in self.loops:
            return [i for i in self.loops[text.lower()] if i is not exclude]
        lowered = text.lower()

        def pick(items: list[Instance] | None) -> list[Instance]:
            return [i for i in items or () if i is not exclude]

        if lowered.startswith("/"):
            return pick(self._by_any_id.get(lowered))
        if "/" in lowered:
            found = pick(self._by_type_name.get(lowered))
            if not found:
                suffix = "/providers/" + lowered
                found = [i for i in self.instances if i is not exclude and i.resource_id.lower().endswith(suffix)]
            if found:
                return found
        found = pick(self._by_name.get(lowered))
        if not found and "/" not in lowered:
            found = pick(self._by_leaf.get(lowered))
        return found

    def single(self, ref: str) -> Instance | None:
        """The one instance reference()/list*() means; errors if a loop symbol is used without an index."""
        found = self.match(ref)
        if not found:
            return None
        if self.rt.is_v2 and ref in self.by_symbol and self.by_symbol[ref].loop_name and len(found) != 1:
            raise ExpressionError(f"The symbolic name '{ref}' refers to a copy loop; reference one instance as "
                                  f"'{ref}[index]' or use references('{ref}').")
        live = [i for i in found if i.condition]
        return (live or found)[0]

    # ------------------------------------------------------------------ preview + dependencies
    def preview(self) -> None:
        """Evaluate every deployable body without runtime state; record what reference()/list*() touch."""
        for inst in self.instances:
            if not inst.condition:
                continue
            stats = PreviewStats()
            ctx = inst.ctx.derive(allow_runtime=True, preview=True, stats=stats)
            inst.preview_body = self.rt.evaluate_body(inst, ctx)
            inst.preview_complete = stats.deferred == 0
            inst.touched = stats.touched
            for text in stats.deferred_texts:
                self._scan_deferred(text, inst)
            if inst.is_deployment and self.rt.nested_scope(inst) == "outer":
                template = get_ci(get_ci(inst.decl.raw, "properties") or {}, "template")
                for _, text in scan.iter_expressions(template):
                    self._scan_deferred(text, inst)

    def _scan_deferred(self, text: str, inst: Instance) -> None:
        """Find reference()/list*() targets in an expression that could not be fully previewed."""
        for call in scan.runtime_calls(text):
            first = call.args[0]
            stats = PreviewStats()
            ctx = inst.ctx.derive(allow_runtime=True, preview=True, stats=stats)
            try:
                target = evaluate(first, ctx)
            except (Deferred, TemplateError):
                target = _literal_loop_prefix(first)
            if isinstance(target, str):
                inst.touched.append(("reference", call.name, target))

    def build_graph(self) -> None:
        names = [i.key for i in self.instances]
        graph = DependencyGraph(names)
        for inst in self.instances:
            for ref in inst.depends_raw:
                found = self.match(ref, exclude=inst, for_dependency=True)
                if not found:
                    raise TemplateError(INVALID_TEMPLATE, f"Deployment template validation failed: 'The resource "
                                        f"'{ref}' is not defined in the template. Please see "
                                        "https://aka.ms/arm-template for usage details.'",
                                        target=f"{inst.decl.path}.dependsOn")
                for dep in found:
                    if dep.condition:
                        graph.add(inst.seq, dep.seq)
                        inst.depends_on.append(dep)
        for name, (mode, batch) in self.loop_modes.items():
            members = self.loops[name]
            batches = copyloops.serial_batches(len(members), mode, batch)
            for previous, current in zip(batches, batches[1:], strict=False):
                for i in current:
                    for j in previous:
                        if members[j].condition:
                            graph.add(members[i].seq, members[j].seq)
                            members[i].depends_on.append(members[j])
        for inst in self.instances:
            if not inst.condition:
                continue
            for kind, fn, target in inst.touched:
                self._implicit(graph, inst, kind, fn, target)
        for inst in self.instances:
            if not inst.condition:
                continue
            for ancestor_id in parent_ids(inst.resource_id):
                ancestor = self.by_id.get(ancestor_id.lower())
                if ancestor is not None and ancestor is not inst and graph.add_soft(inst.seq, ancestor.seq):
                    inst.depends_on.append(ancestor)
        order = graph.order()
        self.order = [self.instances[i] for i in order]
        for inst in self.instances:
            unique: dict[int, Instance] = {d.seq: d for d in inst.depends_on}
            inst.depends_on = [unique[k] for k in sorted(unique)]

    def _implicit(self, graph: DependencyGraph, inst: Instance, kind: str, fn: str, target: Any) -> None:
        if not isinstance(target, str) or not target:
            return
        if kind == "id":
            if not self.rt.is_v2:
                return
            dep = self.by_id.get(target.lower())
            if dep is not None and dep is not inst and graph.add_soft(inst.seq, dep.seq):
                inst.depends_on.append(dep)
            return
        if fn.lower() == "references":
            found = self.match(target, exclude=inst, for_dependency=True)
        else:
            found = self.match(target, exclude=inst)
            if not found and target.startswith("/"):
                for ancestor_id in parent_ids(target):
                    ancestor = self.by_id.get(ancestor_id.lower())
                    if ancestor is not None:
                        found = [ancestor]
                        break
            elif not found and not self.rt.is_v2 and "/" not in target and not self.rt.outer_has(target):
                raise TemplateError(INVALID_TEMPLATE, f"The template reference '{target}' is not valid: could not "
                                    "find template resource or resource copy with this name. Please see "
                                    "https://aka.ms/arm-function-reference for usage details.",
                                    target=inst.decl.path)
        for dep in found:
            # Soft: an implied edge may order resources but never turns a template into a cycle error.
            if dep is not inst and dep.condition and graph.add_soft(inst.seq, dep.seq):
                inst.depends_on.append(dep)


def _literal_loop_prefix(node: Any) -> str | None:
    """For `format('loop[{0}]', ...)` style arguments that can't be evaluated, the loop symbol."""
    if node.__class__ is Literal and isinstance(node.value, str):
        return node.value
    if node.__class__ is Call and node.key == "format" and node.args and node.args[0].__class__ is Literal:
        text = node.args[0].value
        if isinstance(text, str) and text.endswith("[{0}]"):
            return text[: -len("[{0}]")]
    return None
