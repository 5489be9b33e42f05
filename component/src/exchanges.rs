//! The store requests in flight, as futures the executor polls itself rather than as one
//! wstd task each.
//!
//! wstd's reactor, after running a task while another is ready, asks the host, without
//! waiting, which of all pending pollables are ready: with a task per request, each answer
//! that came in cost one such `poll` over every request in flight. That was ~4,200 `poll`
//! calls in a pack of 2,000 small objects, a tenth of all its instructions (callgrind).
//! Here the requests are one task's: the host's wake-ups mark which requests to poll, the
//! executor polls those, and wstd only ever runs that one task, so it waits on the host
//! once per round of answers.
//!
//! A request woken while the executor runs (its credit grown, or another request's
//! answer read) is only marked, not its task woken: the executor polls marked requests
//! before it waits again, so a wake-up from within cannot cost a `poll` either.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

use zip_oss_core::pack::Token;

type Exchange = Pin<Box<dyn Future<Output = ()>>>;

/// The requests in flight, by token.
pub struct Exchanges {
    running: HashMap<Token, (Exchange, Waker)>,
    marks: Arc<Marks>,
}

/// Which requests were woken, and the task to wake when that happens while it waits.
#[derive(Default)]
struct Marks {
    woken: Mutex<Vec<Token>>,
    task: Mutex<Option<Waker>>,
    /// The task is running: a mark is enough.
    running: AtomicBool,
}

/// One request's waker: marks it.
struct Mark {
    token: Token,
    marks: Arc<Marks>,
}

impl Wake for Mark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let marks = &self.marks;
        marks.woken.lock().unwrap().push(self.token);
        if !marks.running.load(Ordering::Relaxed) {
            if let Some(task) = marks.task.lock().unwrap().as_ref() {
                task.wake_by_ref();
            }
        }
    }
}

impl Default for Exchanges {
    fn default() -> Self {
        Exchanges {
            running: HashMap::new(),
            marks: Arc::new(Marks::default()),
        }
    }
}

impl Exchanges {
    /// Starts `exchange`: it is first polled with the others that are due.
    pub fn start(&mut self, token: Token, exchange: impl Future<Output = ()> + 'static) {
        let waker = Waker::from(Arc::new(Mark {
            token,
            marks: self.marks.clone(),
        }));
        self.running.insert(token, (Box::pin(exchange), waker));
        self.marks.woken.lock().unwrap().push(token);
    }

    /// Drops a request (and so its wasi:http resources).
    pub fn cancel(&mut self, token: Token) {
        self.running.remove(&token);
    }

    /// Polls each request woken since the last call, once. One woken meanwhile waits for
    /// the next call (the executor calls again before it waits, and [`Running`] runs it
    /// again if it did not), so a request that keeps waking itself cannot keep the host
    /// from running.
    pub fn poll_woken(&mut self) {
        let woken = std::mem::take(&mut *self.marks.woken.lock().unwrap());
        for token in woken {
            // Gone (finished, cancelled) or marked twice and finished since.
            let Some((exchange, waker)) = self.running.get_mut(&token) else {
                continue;
            };
            if exchange
                .as_mut()
                .poll(&mut Context::from_waker(waker))
                .is_ready()
            {
                self.running.remove(&token);
            }
        }
    }

    /// What runs the executor's task so that requests woken while it runs are only marked.
    pub fn runner(&self) -> Runner {
        Runner(self.marks.clone())
    }
}

/// See [`Exchanges::runner`].
pub struct Runner(Arc<Marks>);

impl Runner {
    pub fn run<F: Future>(self, task: F) -> Running<F> {
        Running {
            task: Box::pin(task),
            marks: self.0,
        }
    }
}

/// The executor's run, telling the requests' wakers when it is running.
pub struct Running<F> {
    task: Pin<Box<F>>,
    marks: Arc<Marks>,
}

impl<F: Future> Future for Running<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let marks = self.marks.clone();
        *marks.task.lock().unwrap() = Some(cx.waker().clone());
        marks.running.store(true, Ordering::Relaxed);
        let polled = self.task.as_mut().poll(cx);
        marks.running.store(false, Ordering::Relaxed);
        // Woken after the run last polled its requests: run again.
        if polled.is_pending() && !marks.woken.lock().unwrap().is_empty() {
            cx.waker().wake_by_ref();
        }
        polled
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::rc::Rc;

    /// A future that is pending until `open`, and wakes whoever polled it when opened.
    #[derive(Default)]
    struct Gate {
        open: bool,
        waker: Option<Waker>,
        polls: u32,
    }

    fn gated(
        gate: Rc<RefCell<Gate>>,
        done: Rc<RefCell<Vec<u64>>>,
        n: u64,
    ) -> impl Future<Output = ()> {
        std::future::poll_fn(move |cx| {
            let mut g = gate.borrow_mut();
            g.polls += 1;
            if g.open {
                done.borrow_mut().push(n);
                Poll::Ready(())
            } else {
                g.waker = Some(cx.waker().clone());
                Poll::Pending
            }
        })
    }

    fn open(gate: &Rc<RefCell<Gate>>) {
        let waker = {
            let mut g = gate.borrow_mut();
            g.open = true;
            g.waker.take()
        };
        waker.expect("polled once").wake();
    }

    #[test]
    fn only_woken_requests_are_polled_and_finished_ones_let_go() {
        let mut ex = Exchanges::default();
        let done = Rc::new(RefCell::new(Vec::new()));
        let gates: Vec<_> = (0..3)
            .map(|_| Rc::new(RefCell::new(Gate::default())))
            .collect();
        for (i, g) in gates.iter().enumerate() {
            ex.start(Token(i as u64), gated(g.clone(), done.clone(), i as u64));
        }
        ex.poll_woken();
        assert!(gates.iter().all(|g| g.borrow().polls == 1));
        open(&gates[1]);
        ex.poll_woken();
        assert_eq!(*done.borrow(), [1]);
        assert_eq!([gates[0].borrow().polls, gates[2].borrow().polls], [1, 1]);
        assert_eq!(ex.running.len(), 2);
        ex.cancel(Token(0));
        assert_eq!(ex.running.len(), 1);
    }

    #[test]
    fn a_request_that_wakes_itself_is_polled_once_a_call() {
        let mut ex = Exchanges::default();
        let polls = Rc::new(RefCell::new(0));
        let restless = {
            let polls = polls.clone();
            std::future::poll_fn(move |cx| {
                *polls.borrow_mut() += 1;
                cx.waker().wake_by_ref();
                Poll::<()>::Pending
            })
        };
        ex.start(Token(7), restless);
        ex.poll_woken();
        ex.poll_woken();
        assert_eq!(*polls.borrow(), 2);
    }

    /// Counts the wake-ups of the task that runs the executor.
    struct Count(Mutex<u32>);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            *self.0.lock().unwrap() += 1;
        }
    }

    type Done = Rc<RefCell<Vec<u64>>>;

    /// The executor's task (counting its wake-ups), its requests, and those finished.
    fn fixture() -> (Arc<Count>, Waker, Rc<RefCell<Exchanges>>, Done) {
        let count = Arc::new(Count(Mutex::new(0)));
        let task = Waker::from(count.clone());
        (count, task, Rc::default(), Rc::default())
    }

    #[test]
    fn a_wake_while_running_marks_and_one_while_waiting_wakes_the_task() {
        let (count, task, ex, done) = fixture();
        let (a, b) = (
            Rc::new(RefCell::new(Gate::default())),
            Rc::new(RefCell::new(Gate::default())),
        );
        ex.borrow_mut()
            .start(Token(1), gated(a.clone(), done.clone(), 1));
        ex.borrow_mut()
            .start(Token(2), gated(b.clone(), done.clone(), 2));
        // The run: polls what is woken, opens `a` from within (as a credit would), polls
        // again, and waits.
        let step = Rc::new(RefCell::new(0));
        let run = {
            let (ex, a, step) = (ex.clone(), a.clone(), step.clone());
            std::future::poll_fn(move |_| {
                ex.borrow_mut().poll_woken();
                if *step.borrow() == 0 {
                    open(&a);
                    ex.borrow_mut().poll_woken();
                }
                *step.borrow_mut() += 1;
                Poll::<()>::Pending
            })
        };
        let mut running = ex.borrow().runner().run(run);
        let mut cx = Context::from_waker(&task);
        assert!(Pin::new(&mut running).poll(&mut cx).is_pending());
        assert_eq!(*done.borrow(), [1]);
        assert_eq!(*count.0.lock().unwrap(), 0, "a wake from within only marks");
        // Woken from outside (the host's answer) while the run waits: the task is woken.
        open(&b);
        assert_eq!(*count.0.lock().unwrap(), 1);
        assert!(Pin::new(&mut running).poll(&mut cx).is_pending());
        assert_eq!(*done.borrow(), [1, 2]);
    }

    #[test]
    fn a_wake_after_the_last_poll_of_a_run_runs_it_again() {
        let (count, task, ex, done) = fixture();
        let a = Rc::new(RefCell::new(Gate::default()));
        ex.borrow_mut()
            .start(Token(1), gated(a.clone(), done.clone(), 1));
        ex.borrow_mut().poll_woken();
        // The run opens `a` after its last poll of the requests, then waits.
        let run = {
            let a = a.clone();
            std::future::poll_fn(move |_| {
                if !a.borrow().open {
                    open(&a);
                }
                Poll::<()>::Pending
            })
        };
        let mut running = ex.borrow().runner().run(run);
        assert!(Pin::new(&mut running)
            .poll(&mut Context::from_waker(&task))
            .is_pending());
        assert_eq!(*count.0.lock().unwrap(), 1, "run again for the mark left");
    }
}
