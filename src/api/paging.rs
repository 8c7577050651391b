//! Page-numbered listing (`page`, `per_page`) of lists the server holds whole: workflows and
//! versions. Instances page by cursor instead (see `instances.rs`).

use serde_json::{Value, json};

use super::envelope::ApiError;

/// A checked `page` (from 1) and `per_page` (1 to 100).
#[derive(Debug, Clone, Copy)]
pub struct Page {
    pub number: u32,
    pub size: u32,
}

impl Page {
    pub fn new(page: Option<u32>, per_page: Option<u32>, default_size: u32) -> Result<Self, ApiError> {
        let page = Page { number: page.unwrap_or(1), size: per_page.unwrap_or(default_size) };
        if page.number == 0 || !(1..=100).contains(&page.size) {
            return Err(ApiError::bad_request("page starts at 1 and per_page must be from 1 to 100"));
        }
        Ok(page)
    }

    /// This page of `items`, and the `result_info` that describes it.
    pub fn slice<T>(&self, items: Vec<T>) -> (Vec<T>, impl FnOnce(usize) -> Value) {
        let total = items.len();
        let start = ((self.number - 1) * self.size) as usize;
        let page: Vec<T> = items.into_iter().skip(start).take(self.size as usize).collect();
        let (number, size) = (self.number, self.size);
        let info = move |count: usize| {
            json!({
                "count": count,
                "per_page": size,
                "total_count": total,
                "page": number,
                "total_pages": total.div_ceil(size as usize),
            })
        };
        (page, info)
    }
}
