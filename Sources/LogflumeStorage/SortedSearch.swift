extension RandomAccessCollection where Index == Int {
    /// Index of the last element whose key is at most `key`, for collections sorted by that key
    /// (segments by base offset, index entries by offset or timestamp); nil when all are above.
    func lastIndex(withKeyAtMost key: Int64, keyOf: (Element) -> Int64) -> Int? {
        var low = startIndex
        var high = endIndex
        while low < high {
            let mid = (low + high) / 2
            if keyOf(self[mid]) <= key { low = mid + 1 } else { high = mid }
        }
        return low == startIndex ? nil : low - 1
    }
}
