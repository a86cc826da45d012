//! How deep a script's values nest, and taking them apart without recursion.
//!
//! Rhai drops, clones and compares its values recursively, so a value nested deep enough
//! overflows the stack of the thread that drops it, and the process aborts. A closure that
//! captures a variable holds it in a shared cell, so a loop that wraps closures in closures
//! (`let g = f; f = |x| g.call(x) + 1;`) builds one level per iteration at constant cost.
//! Rhai has no hook where values are built, so the sandbox measures what a script holds
//! instead: every few hundred operations ([`super::Sandbox`] decides when) the values in the
//! running scope are measured here, and a script holding a value nested deeper than
//! the limit the sandbox sets ends with LIMIT_EXCEEDED. Between two measures a script can add only
//! as many levels as it performs operations, and handlers run on threads whose stack holds
//! that many.
//!
//! When a script ends, everything it held is taken apart here ([`dismantle`]) without
//! recursion, shared cells emptied on the way: that drops deep values safely and frees the
//! reference cycles a closure capturing its own holder makes (`a.f = || a`), which reference
//! counting alone never frees.
//!
//! Nothing here may recurse deeper than the depth limit it is given.

use rhai::{Array, Dynamic, FnPtr, Map};
use std::collections::HashMap;

/// What measuring a script's values found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Measure {
    /// The deepest nesting seen (arrays, maps and closures each count a level), at most
    /// `limit + 1`: the walk stops descending past the limit.
    pub(crate) depth: usize,
    /// Values visited (what the measure cost).
    pub(crate) nodes: usize,
}

/// Measures values, each shared cell once (a cell reached twice, or through itself,
/// is not walked again).
struct Walk {
    limit: usize,
    nodes: usize,
    /// Heights of the shared cells already measured (by address of their content) and the
    /// level they were measured from, or `None` while a cell is being measured (a cycle
    /// back to it adds nothing).
    cells: HashMap<usize, Option<(usize, usize)>>,
}

impl Walk {
    /// The height of `value` (a scalar 0, `[]` 1), at most `limit + 1`; `level` is how deep
    /// this call is, so the recursion never goes past `limit + 1` calls.
    fn height(&mut self, value: &Dynamic, level: usize) -> usize {
        self.nodes += 1;
        if level > self.limit {
            return 0;
        }
        if value.is_shared() {
            let Some(inner) = value.read_lock::<Dynamic>() else {
                return 0;
            };
            let address = &*inner as *const Dynamic as usize;
            // A height measured from a deeper level was cut shorter: measure it again.
            match self.cells.get(&address) {
                Some(Some((height, at))) if *at <= level => return *height,
                Some(None) => return 0,
                _ => {}
            }
            self.cells.insert(address, None);
            let height = self.height(&inner, level);
            self.cells.insert(address, Some((height, level)));
            return height;
        }
        if value.is_array() {
            match value.read_lock::<Array>() {
                Some(items) => self.below(items.iter(), level),
                None => 0,
            }
        } else if value.is_map() {
            match value.read_lock::<Map>() {
                Some(map) => self.below(map.values(), level),
                None => 0,
            }
        } else if value.is_fnptr() {
            match value.read_lock::<FnPtr>() {
                Some(f) => self.below(f.iter_curry(), level),
                None => 0,
            }
        } else {
            0
        }
    }

    /// One level plus the tallest of `children` (stopping once past the limit).
    fn below<'a>(&mut self, children: impl Iterator<Item = &'a Dynamic>, level: usize) -> usize {
        let mut tallest = 0;
        for child in children {
            tallest = tallest.max(self.height(child, level + 1));
            if level + 1 + tallest > self.limit {
                break;
            }
        }
        1 + tallest
    }
}

/// Measure `values` (a scope's variables): the deepest nesting among them, up to `limit + 1`.
pub(crate) fn measure<'a>(values: impl IntoIterator<Item = &'a Dynamic>, limit: usize) -> Measure {
    let mut walk = Walk {
        limit,
        nodes: 0,
        cells: HashMap::new(),
    };
    let mut depth = 0;
    for value in values {
        depth = depth.max(walk.height(value, 0));
        if depth > limit {
            break;
        }
    }
    Measure {
        depth: depth.min(limit + 1),
        nodes: walk.nodes,
    }
}

/// Take `values` apart and drop them without recursion, emptying every shared cell met on
/// the way (which frees the cycles closures make). Only for values no one else holds: a
/// script's scope and results once it has ended.
pub(crate) fn dismantle(values: impl IntoIterator<Item = Dynamic>) {
    let mut stack: Vec<Dynamic> = values.into_iter().collect();
    while let Some(mut value) = stack.pop() {
        if value.is_shared() {
            if let Some(mut inner) = value.write_lock::<Dynamic>() {
                stack.push(std::mem::take(&mut *inner));
            }
        } else if value.is_array() {
            if let Some(mut items) = value.write_lock::<Array>() {
                stack.extend(items.drain(..));
            }
        } else if value.is_map() {
            if let Some(mut map) = value.write_lock::<Map>() {
                stack.extend(std::mem::take(&mut *map).into_values());
            }
        } else if value.is_fnptr()
            && let Some(mut f) = value.write_lock::<FnPtr>()
        {
            stack.extend(f.iter_curry_mut().map(std::mem::take));
            f.set_curry(Vec::new());
        }
        // `value` now holds nothing nested: its drop is shallow.
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::MAX_VALUE_DEPTH;

    fn eval(source: &str) -> Dynamic {
        let mut engine = rhai::Engine::new();
        engine.set_max_operations(0);
        engine.eval(source).unwrap()
    }

    #[test]
    fn closures_arrays_and_maps_each_count_a_level() {
        assert_eq!(measure([&eval("1")], 10).depth, 0);
        assert_eq!(measure([&eval("[]")], 10).depth, 1);
        assert_eq!(measure([&eval("[[1], #{a: [2]}]")], 10).depth, 3);
        let chain = "let f = |x| x; for i in 0..50 { let g = f; f = |x| g.call(x) + 1; } f";
        let found = measure([&eval(chain)], 100).depth;
        assert!((50..=60).contains(&found), "{found}");
        assert_eq!(
            measure([&eval(chain)], 10).depth,
            11,
            "stops past the limit"
        );
    }

    #[test]
    fn a_cycle_through_a_closure_is_walked_once_and_taken_apart() {
        let value = eval("let a = #{}; let f = || a; a.f = f; f");
        assert!(measure([&value], 100).depth <= 4);
        dismantle([value]);
    }

    #[test]
    fn a_chain_deeper_than_any_stack_is_dropped_without_recursion() {
        let mut value = Dynamic::from_array(Vec::new());
        for _ in 0..1_000_000 {
            value = Dynamic::from_array(vec![value]);
        }
        assert!(measure([&value], MAX_VALUE_DEPTH).depth > MAX_VALUE_DEPTH);
        dismantle([value]);
    }
}
