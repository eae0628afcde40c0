//! A bounded stack with a display impl.

use std::fmt;

/// Largest capacity a stack may have.
pub const MAX_CAPACITY: usize = 1024;

/// A stack that refuses pushes beyond its capacity.
#[derive(Debug, Clone)]
pub struct Stack<T> {
    items: Vec<T>,
    capacity: usize,
}

/// Errors returned by stack operations.
#[derive(Debug, PartialEq)]
pub enum StackError {
    Full,
    Empty,
}

impl<T> Stack<T> {
    /// Creates an empty stack.
    pub fn new(capacity: usize) -> Self {
        Stack { items: Vec::new(), capacity: capacity.min(MAX_CAPACITY) }
    }

    /// Pushes an item, or fails when the stack is full.
    pub fn push(&mut self, item: T) -> Result<(), StackError> {
        if self.items.len() >= self.capacity {
            return Err(StackError::Full);
        }
        self.items.push(item);
        Ok(())
    }

    pub fn pop(&mut self) -> Result<T, StackError> {
        self.items.pop().ok_or(StackError::Empty)
    }
}

/// Things that have a size.
pub trait Sized2 {
    fn len(&self) -> usize;

    /// True when there is nothing inside.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T: fmt::Debug> fmt::Display for Stack<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stack{:?}", self.items)
    }
}

/// Sum of a slice of integers.
pub fn total(xs: &[i64]) -> i64 {
    xs.iter().sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_then_pop() {
        let mut s = Stack::new(1);
        s.push(3).unwrap();
        assert_eq!(s.pop(), Ok(3));
    }
}
