//! The store requests in flight, as futures the executor polls itself rather than as one
//! wstd task each.
//!
//! wstd's reactor, after running a task while another is ready, asks the host, without
//! waiting, which of all pending pollables are ready: with a task per request, each answer
//! that came in cost one such `poll` over every request in flight. That was ~4,200 `poll`
//! calls in a pack of 2,000 small objects, a tenth of all its instructions (callgrind).
//! Here the requests are one task's: the host's wake-ups mark which requests to poll, and
//! the executor polls those. While that task is the only one ready, wstd waits on the
//! host once per round of answers; other tasks (a progress report, a status write, a
//! streamed body's writer) still cost wstd's check when they run.
//!
//! A request woken while the executor runs (its credit grown) is only marked, not the task
//! woken: the executor polls marked requests before it waits again. A request marked after
//! that last poll wakes the task again ([`Running`]), which costs wstd's check once.

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
    in_flight: HashMap<Token, InFlight>,
    marks: Arc<Marks>,
}

struct InFlight {
    exchange: Exchange,
    /// Its waker, as the flag [`poll_woken`](Exchanges::poll_woken) clears.
    mark: Arc<Mark>,
}

/// Which requests were woken, and the task to wake when that happens while it waits.
#[derive(Default)]
struct Marks {
    woken: Mutex<Vec<Token>>,
    task: Mutex<Option<Waker>>,
    /// The task is running: a mark is enough.
    running: AtomicBool,
}

/// One request's waker: marks it, once until it is polled (two of its waits ready at once
/// would otherwise poll it twice, each poll asking the host about its waits again).
struct Mark {
    token: Token,
    marked: AtomicBool,
    marks: Arc<Marks>,
}

impl Wake for Mark {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref()
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if self.marked.swap(true, Ordering::Relaxed) {
            return;
        }
        let marks = &self.marks;
        marks.woken.lock().unwrap().push(self.token);
        if !marks.running.load(Ordering::Relaxed) {
            let task = marks.task.lock().unwrap().clone();
            if let Some(task) = task {
                task.wake();
            }
        }
    }
}

impl Default for Exchanges {
    fn default() -> Self {
        Exchanges {
            in_flight: HashMap::new(),
            marks: Arc::new(Marks::default()),
        }
    }
}

impl Exchanges {
    /// Starts `exchange`: it is first polled with the others that are due.
    pub fn start(&mut self, token: Token, exchange: impl Future<Output = ()> + 'static) {
        let mark = Arc::new(Mark {
            token,
            marked: AtomicBool::new(true),
            marks: self.marks.clone(),
        });
        let exchange = Box::pin(exchange);
        self.in_flight.insert(token, InFlight { exchange, mark });
        self.marks.woken.lock().unwrap().push(token);
    }

    /// Drops a request (and so its wasi:http resources).
    pub fn cancel(&mut self, token: Token) {
        self.in_flight.remove(&token);
    }

    /// Polls each request woken since the last call, once. One woken meanwhile waits for
    /// the next call (the executor calls again before it waits, and [`Running`] runs it
    /// again if it did not), so a request that keeps waking itself cannot keep the host
    /// from running.
    pub fn poll_woken(&mut self) {
        let woken = std::mem::take(&mut *self.marks.woken.lock().unwrap());
        for token in woken {
            // Gone: finished or cancelled.
            let Some(request) = self.in_flight.get_mut(&token) else {
                continue;
            };
            request.mark.marked.store(false, Ordering::Relaxed);
            let waker = Waker::from(request.mark.clone());
            let mut cx = Context::from_waker(&waker);
            if request.exchange.as_mut().poll(&mut cx).is_ready() {
                self.in_flight.remove(&token);
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

/// The executor's run, telling the requests' wakers when it is running. Marks left when
/// the run ends (a streamed archive's head: `Executor::run` is called again) are polled
/// by the next run; until then a wake-up goes to this run's task, for nothing.
pub struct Running<F> {
    task: Pin<Box<F>>,
    marks: Arc<Marks>,
}

impl<F: Future> Future for Running<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let marks = self.marks.clone();
        {
            let mut task = marks.task.lock().unwrap();
            if !task.as_ref().is_some_and(|t| t.will_wake(cx.waker())) {
                *task = Some(cx.waker().clone());
            }
        }
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
        assert_eq!(ex.in_flight.len(), 2);
    }

    /// Set when the future holding it is dropped.
    struct Dropped(Rc<RefCell<bool>>);
    impl Drop for Dropped {
        fn drop(&mut self) {
            *self.0.borrow_mut() = true;
        }
    }

    #[test]
    fn a_request_woken_twice_is_polled_once_and_a_cancelled_one_is_dropped() {
        let mut ex = Exchanges::default();
        let polls = Rc::new(RefCell::new(0));
        let its_waker: Rc<RefCell<Option<Waker>>> = Rc::default();
        let dropped = Rc::new(RefCell::new(false));
        let request = {
            let (polls, its_waker) = (polls.clone(), its_waker.clone());
            let guard = Dropped(dropped.clone());
            std::future::poll_fn(move |cx| {
                let _held = &guard;
                *polls.borrow_mut() += 1;
                *its_waker.borrow_mut() = Some(cx.waker().clone());
                Poll::<()>::Pending
            })
        };
        ex.start(Token(3), request);
        ex.poll_woken();
        let waker = its_waker.borrow().clone().expect("polled");
        // Two of its waits ready at once.
        waker.wake_by_ref();
        waker.wake_by_ref();
        ex.poll_woken();
        ex.poll_woken();
        assert_eq!(*polls.borrow(), 2);
        assert!(!*dropped.borrow());
        ex.cancel(Token(3));
        assert!(*dropped.borrow(), "cancelling drops the request");
        // A wake-up for a request gone is nothing.
        waker.wake_by_ref();
        ex.poll_woken();
        assert_eq!(*polls.borrow(), 2);
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

    /// A gated request started as token 1 and polled once.
    fn started_gate(ex: &Rc<RefCell<Exchanges>>, done: &Done) -> Rc<RefCell<Gate>> {
        let gate = Rc::new(RefCell::new(Gate::default()));
        ex.borrow_mut()
            .start(Token(1), gated(gate.clone(), done.clone(), 1));
        ex.borrow_mut().poll_woken();
        gate
    }

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
        let a = started_gate(&ex, &done);
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

    #[test]
    fn marks_left_when_a_run_ends_are_polled_by_the_next_run() {
        let (count, task, ex, done) = fixture();
        let a = started_gate(&ex, &done);
        // The first run ends (a streamed archive's head), then the request is woken: the
        // first run's task is woken, for nothing.
        let mut first = ex.borrow().runner().run(async {});
        assert!(Pin::new(&mut first)
            .poll(&mut Context::from_waker(&task))
            .is_ready());
        drop(first);
        open(&a);
        assert_eq!(*count.0.lock().unwrap(), 1);
        // The next run, on another task, polls it.
        let (count2, task2, _, _) = fixture();
        let run = {
            let ex = ex.clone();
            std::future::poll_fn(move |_| {
                ex.borrow_mut().poll_woken();
                Poll::<()>::Pending
            })
        };
        let mut second = ex.borrow().runner().run(run);
        assert!(Pin::new(&mut second)
            .poll(&mut Context::from_waker(&task2))
            .is_pending());
        assert_eq!(*done.borrow(), [1]);
        assert_eq!(*count2.0.lock().unwrap(), 0);
    }
}
